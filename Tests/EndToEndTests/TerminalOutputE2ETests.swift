// What a headless `ppdash run` writes to a real terminal (a pty): every output line, whole, and cursor movement only
// where TERM allows it.
import Foundation
import Testing

import Glibc

/// The lines a terminal would show for `bytes`: `\r` returns to the start of the line, `ESC[K` clears to its end, other
/// escape sequences are skipped, printable characters overwrite.
private func screenLines(_ bytes: [UInt8]) -> [String] {
    var lines: [String] = []
    var line: [Character] = []
    var col = 0
    var chars = Array(String(decoding: bytes, as: UTF8.self))[...]
    while let c = chars.popFirst() {
        switch c {
        case "\r": col = 0
        case "\n", "\r\n":
            lines.append(String(line))
            (line, col) = ([], 0)
        case "\u{1B}":
            guard chars.first == "[" else { continue }
            chars.removeFirst()
            var body = ""
            while let d = chars.popFirst() {
                if d.isLetter {
                    if d == "K" && body.isEmpty && col < line.count { line.removeSubrange(col...) }
                    break
                }
                body.append(d)
            }
        default:
            if col < line.count { line[col] = c } else { line.append(c) }
            col += 1
        }
    }
    if !line.isEmpty { lines.append(String(line)) }
    return lines
}

private func run(onPty args: [String], term: String?, timeout: Double = 20) async -> RunResult? {
    guard let bin = PPDash.path else {
        Issue.record(Comment(rawValue: PPDash.notFound))
        return nil
    }
    return await runOnPty([bin] + args, env: PPDash.baseEnvironment.merging(["TERM": term]) { $1 }, timeout: timeout)
}

@Suite("ppdash run on a terminal", .endToEndSlot)
struct TerminalOutputE2ETests {
    @Test("TERM dumb, unset or unknown: every task's output, a plain summary, no cursor movement",
          arguments: ["dumb", nil, "ppdash-no-such-terminal"] as [String?])
    func plainOnUnusableTERM(_ term: String?) async {
        guard let r = await run(onPty: ["run", "--", "echo {}", ":::", "a", "b", "c"], term: term) else { return }
        #expect(!r.timedOut && r.exitCode == 0, "\(r)")
        let lines = screenLines(r.stdout)
        #expect(lines.filter { ["a", "b", "c"].contains($0) }.sorted() == ["a", "b", "c"], "every output line\(r)")
        #expect(lines.contains { $0.hasPrefix("ppdash: 3 tasks: 3 ok") }, "the summary\(r)")
        #expect(!r.stdout.contains(0x1B), "no escape sequence\(r)")
        let bareCR = r.stdout.indices.contains { r.stdout[$0] == 0x0D && ($0 + 1 == r.stdout.count || r.stdout[$0 + 1] != 0x0A) }
        #expect(!bareCR, "no carriage return but the terminal's own before a newline\(r)")
    }

    @Test("the progress line is erased before each output line")
    func progressLineErasedBeforeOutput() async {
        let args = ["run", "--headless", "-j", "2", "--", "sleep 0.25; echo out{}", ":::"] + (1...8).map(String.init)
        guard let r = await run(onPty: args, term: "xterm-256color") else { return }
        #expect(!r.timedOut && r.exitCode == 0, "\(r)")
        #expect(r.stdout.contains(0x1B), "a progress line was drawn in place\(r)")
        let outputs = screenLines(r.stdout).filter { $0.range(of: "out[0-9]", options: .regularExpression) != nil }
        #expect(outputs.sorted() == (1...8).map { "out\($0)" }, "each output line whole, nothing of the bar on it\(r)")
    }

    @Test("output that does not end its line is not drawn over by the progress line")
    func partialLineKept() async {
        let args = ["run", "--headless", "-j", "1", "--", "sleep 0.3; printf p{}", ":::", "1", "2", "3"]
        guard let r = await run(onPty: args, term: "xterm-256color") else { return }
        #expect(!r.timedOut && r.exitCode == 0, "\(r)")
        #expect(screenLines(r.stdout).contains { $0.hasPrefix("p1p2p3") }, "the partial lines, whole\(r)")
    }

    @Test("stdout redirected, stderr on the terminal: the progress line stays out of stdout")
    func progressLineNotInRedirectedStdout() async throws {
        guard let bin = PPDash.path else {
            Issue.record(Comment(rawValue: PPDash.notFound))
            return
        }
        let file = NSTemporaryDirectory() + "ppdash-stdout-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(file) }
        let script = "exec \"$0\" run --headless -j 2 -- 'sleep 0.25; echo out{}' ::: 1 2 3 4 5 6 > \"$1\""
        let r = await runOnPty(
            ["/bin/sh", "-c", script, bin, file], env: PPDash.baseEnvironment.merging(["TERM": "xterm-256color"]) { $1 },
            timeout: 20)
        #expect(!r.timedOut && r.exitCode == 0, "\(r)")
        let out = try String(contentsOfFile: file, encoding: .utf8)
        #expect(splitLines(out).sorted() == (1...6).map { "out\($0)" }, "stdout holds the outputs only: \(out.debugDescription)")
        #expect(screenLines(r.stdout).contains { $0.hasPrefix("ppdash: 6 tasks: 6 ok") }, "the summary on the terminal\(r)")
    }

    @Test("run without ::: reading a terminal says so on stderr, once")
    func saysItReadsTheTerminal() async {
        guard let r = await run(onPty: ["run", "--", "echo", "{}"], term: "xterm-256color", timeout: 3) else { return }
        let hint = "ppdash: reading arguments from the terminal; end with Ctrl-D"
        #expect(screenLines(r.stdout).filter { $0 == hint }.count == 1, "\(r)")
    }

    @Test("run without ::: reading a pipe: no such hint")
    func quietOnPipedArguments() async {
        let r = await PPDash.run(["run", "--", "echo", "{}"], stdin: Array("x\n".utf8), timeout: 30)
        #expect(r.exitCode == 0 && r.outLines == ["x"], "\(r)")
        #expect(!r.err.contains("reading arguments"), "\(r)")
    }
}
