// The journal's crash-safety rule end to end: a task ppdash printed is in the journal, even when ppdash is killed -9
// the moment its output line is read.
import Foundation
import PPSystem
import Testing

import Glibc

@Suite("journal crash safety", .endToEndSlot, .serialized)
struct JournalCrashSafetyE2ETests {
    /// Runs `ppdash run -j 2 --journal J [extra] -- 'echo out-{}' ::: 1..20000` with stdout on a pipe, reads until
    /// `lines` whole lines came, SIGKILLs it at once; returns the printed lines and the journal's text.
    func killAfter(lines wanted: Int, extra: [String], dir: TempDir) throws -> (printed: [String], journal: String) {
        guard let bin = PPDash.path else { throw Failure(PPDash.notFound) }
        let journal = dir.file("j-\(wanted)-\(extra.joined()).jsonl")
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw Failure("pipe: \(errno)") }
        // Close-on-exec: no other test's child keeps the write end open (the spawn's dup2 onto 1 clears it there).
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        defer { close(fds[0]) }
        let argv = [bin, "run", "-j", "2", "--journal", journal] + extra + ["--", "echo out-{}", ":::", "1..20000"]
        let child: ChildProcess
        do throws(Errno) {
            child = try spawnSession(
                argv, env: PPDash.baseEnvironment,
                descriptors: [
                    .open("/dev/null", flags: O_RDONLY, to: 0), .copy(fds[1], to: 1),
                    .open("/dev/null", flags: O_WRONLY, to: 2),
                ])
        } catch {
            close(fds[1])
            throw Failure("cannot start ppdash: \(error)")
        }
        close(fds[1])
        var got = [UInt8]()
        var count = 0
        var chunk = [UInt8](repeating: 0, count: 4096)
        let deadline = now() + 20
        // Read until `wanted` newlines; kill the moment the wanted line is complete (nothing more is read).
        while count < wanted && now() < deadline {
            guard waitReadable(fds[0], milliseconds: 100) else { continue }
            let n = chunk.withUnsafeMutableBytes { read(fds[0], $0.baseAddress!, $0.count) }
            if n <= 0 { break }
            let piece = chunk[0..<n]
            got.append(contentsOf: piece)
            count += piece.filter { $0 == 10 }.count
        }
        kill(child.pid, SIGKILL)
        child.wait()
        let printed = String(decoding: got, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
            .map(String.init)
        // Only whole lines were printed by ppdash's write of them (a partial last one is left out).
        let whole = got.last == 10 ? printed : Array(printed.dropLast())
        let text = (try? String(contentsOfFile: journal, encoding: .utf8)) ?? ""
        return (whole, text)
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// The arguments of every task the journal's `completed` lines name (format 2 keeps `args` in them).
    func completedArgs(_ journal: String) -> Set<String> {
        var out = Set<String>()
        for line in journal.split(separator: "\n") where line.contains("\"event\":\"completed\"") {
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                let a = (o["args"] as? [String])?.first
            else { continue }
            out.insert(a)
        }
        return out
    }

    @Test("kill -9 right after a task's output line is read: that task (and every one printed) is in the journal")
    func printedMeansJournaled() throws {
        let dir = TempDir()
        defer { dir.remove() }
        for (wanted, extra) in [(1, [String]()), (300, []), (1, ["--json"]), (300, ["--json"]), (300, ["--keep-order"])] {
            let (printed, journal) = try killAfter(lines: wanted, extra: extra, dir: dir)
            #expect(printed.count >= wanted, "read \(printed.count) lines of \(wanted) (\(extra)); journal: \(journal.prefix(300))")
            let done = completedArgs(journal)
            var missing = [String]()
            for line in printed {
                let arg: String
                if line.hasPrefix("{") {
                    let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
                    arg = (o?["args"] as? [String])?.first ?? "?"
                } else {
                    arg = line.hasPrefix("out-") ? String(line.dropFirst(4)) : "?"
                }
                if !done.contains(arg) { missing.append(arg) }
            }
            #expect(missing.isEmpty, "printed but not in the journal (\(extra), after \(wanted) lines): \(missing.prefix(10))")
            #expect(journal.hasPrefix("{\"ppdash_journal\":2"), "a format-2 journal")
        }
    }
}
