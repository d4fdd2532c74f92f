// Remote tasks' output, through the real binary: every byte of an ssh task's output reaches plain mode (past
// --max-output, binary), --line-buffer prints a remote task's lines as they come, and a connected-in worker's task
// output is seen before the task ends.
import Foundation
import PPSystem
import Testing

import Glibc

@Suite("remote output: whole and live", .endToEndSlot, .serialized)
struct RemoteOutputE2ETests {
    @Test(
        "ssh engine: 1 MB of binary output printed byte for byte (stdout and stderr); --line-buffer over ssh",
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd"),
            "no /usr/sbin/sshd: install openssh-server to run the ssh engine tests"))
    func sshOutputWhole() async throws {
        let bin = try #require(PPDash.path, "ppdash binary")
        let server = try await PrivateSSHD.start()
        defer { server.stop() }
        let dir = TempDir()
        defer { dir.remove() }
        var rng = SystemRandomNumberGenerator()
        let blob = (0..<1_000_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        _ = FileManager.default.createFile(atPath: dir.file("blob"), contents: Data(blob))
        let ssh = "ssh -F \(server.clientConfig)"
        let r = await PPDash.run(
            [
                "run", "--no-journal", "-e", "ssh:1/127.0.0.1:\(server.port)", "--ssh", ssh, "--remote-ppdash", bin,
                "--", "cat {}; cat {} >&2", ":::", dir.file("blob"),
            ], timeout: 90)
        #expect(r.exitCode == 0, "\(clip(r.err))\n--- sshd log ---\n\(server.log)")
        #expect(r.stdout.count == blob.count)
        let same = r.stdout == blob
        #expect(same, "stdout is the task's 1 MB, byte for byte")
        // stderr carries the same bytes (ppdash's own notes, if any, are whole lines around them).
        let errHasBlob = r.stderr.count >= blob.count
            && (0...(r.stderr.count - blob.count)).contains { Array(r.stderr[$0..<($0 + blob.count)]) == blob }
        #expect(errHasBlob, "stderr holds the task's 1 MB whole")
        #expect(!r.err.contains("were not kept"), "nothing cut to head and tail")

        // --line-buffer: whole lines as they come, every one of them.
        let lines = await PPDash.run(
            [
                "run", "--no-journal", "--line-buffer", "-e", "ssh:2/127.0.0.1:\(server.port)", "--ssh", ssh,
                "--remote-ppdash", bin, "--", "seq 1 30000 | sed s/^/{}-/", ":::", "a", "b",
            ], timeout: 90)
        #expect(lines.exitCode == 0, "\(clip(lines.err))")
        let got = lines.outLines.filter { !$0.isEmpty }
        #expect(got.count == 60_000)
        for tag in ["a", "b"] {
            let mine = got.filter { $0.hasPrefix(tag + "-") }
            #expect(mine == (1...30000).map { "\(tag)-\($0)" }, "\(tag)'s lines whole and in order")
        }
    }

    @Test("connected-in worker: a task's output is printed (--line-buffer) before the task ends")
    func connectedLive() async throws {
        let bin = try #require(PPDash.path, "ppdash binary")
        let dir = TempDir()
        defer { dir.remove() }
        let port = freePort()
        let out = dir.file("out")
        let go = dir.file("go")
        // stdout to a file the test reads while ppdash runs; the task waits (bounded) for the test to see its line.
        let run = Child.start(
            [
                "/bin/sh", "-c", "exec \"$0\" \"$@\" > \(out)", bin, "run", "--no-journal", "--line-buffer",
                "-e", "listen:\(port)", "--token-file", dir.file("token"), "--timeout", "60", "--",
                "echo first {}; i=0; while [ ! -e \(go) ] && [ $i -lt 1500 ]; do sleep 0.02; i=$((i+1)); done; echo second {}",
                ":::", "x",
            ], env: PPDash.baseEnvironment, timeout: 90)
        let end = now() + 20
        while !FileManager.default.fileExists(atPath: dir.file("token")) && now() < end {
            try await Task.sleep(for: .milliseconds(20))
        }
        let worker = PPDash.start(["engine", "--connect", "127.0.0.1:\(port)", "--token-file", dir.file("token")], timeout: 90)
        var seen = false
        while !seen && now() < end + 20 {
            seen = (try? String(contentsOfFile: out, encoding: .utf8)) == "first x\n"
            if !seen { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(seen, "the task's first line was printed while it ran")
        _ = FileManager.default.createFile(atPath: go, contents: nil)
        let r = await run.wait()
        #expect(r.exitCode == 0, "\(r)")
        #expect((try? String(contentsOfFile: out, encoding: .utf8)) == "first x\nsecond x\n")
        if let worker { _ = await worker.wait() }
    }

    @Test(
        "a blackhole ssh host (connects, never speaks) does not hold up the batch: the proc engine starts it at once, the ssh engine dies with its reason",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh"), "no ssh client"))
    func blackholeHostDoesNotHoldTheBatch() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        // A listener that never accepts: the kernel completes the connection, nothing ever answers ssh's banner.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
                bind(fd, p, len) == 0 && listen(fd, 8) == 0 && getsockname(fd, p, &len) == 0
            }
        }
        #expect(bound)
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let stamps = dir.file("stamps")
        let t0 = Date().timeIntervalSince1970
        let r = await PPDash.run(
            [
                "run", "--no-journal", "-e", "proc:1,ssh:1/127.0.0.1:\(port)", "--ssh", "ssh -F /dev/null",
                "--hello-timeout", "6", "--", "date +%s.%N >> \(stamps); sleep 0.5; echo {}", ":::", "1..16",
            ], timeout: 90)
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.outLines.filter { !$0.isEmpty }.sorted() == (1...16).map(String.init).sorted(), "\(r)")
        let first = (try? String(contentsOfFile: stamps, encoding: .utf8))?.split(separator: "\n").compactMap { Double($0) }.min()
        let delay = (first ?? .infinity) - t0
        #expect(delay < 5, "the batch started \(delay) s after ppdash did (the silent host's hello limit is 6 s)")
        #expect(r.err.contains("is still starting"), "\(r.err)")
        #expect(r.err.contains("did not start: no hello within 6 s"), "the ssh engine died with its reason: \(r.err)")
    }
}
