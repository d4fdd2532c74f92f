import Foundation
import PPKit
import PPSource

/// The headless progress line, like the notebook's bar (tqdm's text form).
struct ProgressLine {
    /// Rewritten in place with `\r` on a terminal, else printed once a second.
    let tty: Bool
    var lastPrint: Double = 0

    static func render(done: Int, total: Int, ok: Int, failed: Int, elapsed: Double, width: Int = 30) -> String {
        let frac = total == 0 ? 1 : Double(done) / Double(total)
        let filled = Int((frac * Double(width)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let pct = Int((frac * 100).rounded(.down))
        let rate = RateMeter.average(done, seconds: elapsed)
        var s = "[\(bar)] \(done)/\(total) \(pct)% ok \(ok)"
        if failed > 0 { s += " failed \(failed)" }
        s += String(format: " %.1fs %.1f tasks/s", elapsed, rate)
        return s
    }

    /// Draws the line for a batch if it is time to.
    mutating func update(_ counts: StatusCounts, elapsed: Double, final: Bool = false) {
        let line = Self.render(done: counts.done, total: counts.total, ok: counts.ok, failed: counts.failed, elapsed: elapsed)
        if tty {
            FileHandle.standardError.write(Data(("\r" + line + (final ? "\n" : "")).utf8))
        } else if final || elapsed - lastPrint >= 1 {
            lastPrint = elapsed
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }
}
