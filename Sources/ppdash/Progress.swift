import Foundation
import PPKit
import PPSource
import PPTerm

/// The headless progress line, like the notebook's bar (tqdm's text form).
struct ProgressLine {
    /// Rewritten in place with `\r` on a terminal that can move the cursor, else printed once a second.
    let tty: Bool
    var lastPrint: Double = 0

    /// `tty`: stderr is a terminal; the line is drawn in place only if its TERM can move the cursor (not dumb,
    /// unset or unknown), else it is printed as plain lines.
    init(tty: Bool) {
        self.tty = tty && Terminal.canRewriteLine(fd: 2)
    }

    /// `open`: the input is still being read (stdin): the total is not known, shown as `?`.
    static func render(done: Int, total: Int, ok: Int, failed: Int, elapsed: Double, open: Bool = false, width: Int = 30) -> String {
        let frac = open ? 0 : total == 0 ? 1 : Double(done) / Double(total)
        let filled = Int((frac * Double(width)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let pct = Int((frac * 100).rounded(.down))
        let rate = RateMeter.average(done, seconds: elapsed)
        var s = open ? "[\(bar)] \(done)/? ok \(ok)" : "[\(bar)] \(done)/\(total) \(pct)% ok \(ok)"
        if failed > 0 { s += " failed \(failed)" }
        s += String(format: " %.1fs %.1f tasks/s", elapsed, rate)
        return s
    }

    /// Draws the line for a batch if it is time to.
    mutating func update(_ counts: StatusCounts, elapsed: Double, open: Bool = false, final: Bool = false) {
        let line = Self.render(
            done: counts.done, total: counts.total, ok: counts.ok, failed: counts.failed, elapsed: elapsed, open: open)
        if tty && !final {
            statusLine.draw(line)
        } else if final || elapsed - lastPrint >= 1 {
            lastPrint = elapsed
            _ = statusLine.write(2, line + "\n")
        }
    }

    /// Erases the line drawn in place, if any.
    func clear() {
        if tty { statusLine.erase() }
    }
}
