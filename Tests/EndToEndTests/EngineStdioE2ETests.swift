import Foundation
import Testing

@Suite("ppdash engine --stdio on what cannot be polled", .endToEndSlot)
struct EngineStdioE2ETests {
    @Test("stdin /dev/null, stdout /dev/null (stdin a pipe), stdin a file: exit 2 and one line, no crash", arguments: [
        "exec \"$0\" engine --stdio </dev/null",
        ": | \"$0\" engine --stdio >/dev/null 2>/dev/null; echo \"status $?\" >&2",
        "exec \"$0\" engine --stdio <\"$0\"",
    ])
    func refusesUnpollable(_ script: String) async throws {
        let path = try #require(PPDash.path, "ppdash is not built")
        let r = await run(["/bin/sh", "-c", script, path], stdin: [], timeout: 15)
        let text = r.err.lowercased()
        for crash in ["backtrace", "fatal error", "crashed"] {
            #expect(!text.contains(crash), "no crash report\(r)")
        }
        if script.contains("status") {
            // Its stderr went to /dev/null with its stdout: the status says it.
            #expect(r.errLines.last == "status 2", "\(r)")
        } else {
            #expect(r.exitCode == 2, "\(r)")
            let lines = r.errLines.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            #expect(lines.count == 1, "one line on stderr\(r)")
            #expect(text.contains("pipe or socket"), "\(r)")
        }
    }

    @Test("a worker whose input is at its end from the start (`: | ppdash engine --stdio | cat`) ends: one line, non-zero")
    func inputAtEndFromTheStart() async throws {
        let path = try #require(PPDash.path, "ppdash is not built")
        let r = await run(["/bin/sh", "-c", ": | \"$0\" engine --stdio | cat", path], stdin: [], timeout: 30)
        #expect(r.exitCode != nil, "it ended (it hung for good before)\(r)")
        let lines = r.errLines.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        #expect(lines.count == 1, "one line on stderr\(r)")
        #expect(r.err.contains("closed the connection before welcoming this worker"), "\(r)")
        // The worker's own status (sh's pipeline status is cat's): run it alone with the same input.
        let alone = await run(["/bin/sh", "-c", ": | \"$0\" engine --stdio", path], stdin: [], timeout: 30)
        #expect(alone.exitCode == 1, "\(alone)")
    }
}
