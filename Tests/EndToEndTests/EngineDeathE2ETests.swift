// Engine deaths through the real binary: a proc worker killed, stopped or killing itself mid-task; every engine
// killed; a connected-in worker stopped with SIGTERM; a worker dialling a server that never speaks.
import Foundation
import Glibc
import PPSystem
import Testing

/// The worker pids the tasks wrote (`echo $PPID >> pids`), once `count` are there.
private func workerPids(_ dir: TempDir, count: Int, timeout: Double = 20) async -> [pid_t] {
    let end = now() + timeout
    while now() < end {
        let text = (try? String(contentsOfFile: dir.file("pids"), encoding: .utf8)) ?? ""
        let pids = text.split(separator: "\n").compactMap { pid_t($0) }
        if pids.count >= count { return pids }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return []
}

/// Waits until none of `pids` is alive (zombies count as gone); false if one still is after `timeout`.
/// (Not a machine-wide look for `ppdash engine`: other runs on this machine may have theirs.)
private func gone(_ pids: [pid_t], timeout: Double = 5) async -> Bool {
    let end = now() + timeout
    while now() < end {
        if pids.allSatisfy({ !SystemFacts.processExists($0) || SystemFacts.isZombie($0) }) { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return false
}

/// Lines of a file in `dir` (none when it is missing).
private func lines(_ dir: TempDir, _ name: String) -> [String] {
    ((try? String(contentsOfFile: dir.file(name), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
}

/// `run --json` records: id -> (status, retries, error).
private func records(_ r: RunResult) -> [String: (status: String, retries: Int, error: String)] {
    var out: [String: (String, Int, String)] = [:]
    for line in r.outLines {
        guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { continue }
        out["\(o["id"] ?? "?")"] = ("\(o["status"] ?? "?")", (o["retries"] as? Int) ?? -1, (o["error"] as? String) ?? "")
    }
    return out
}

// In the engines suite, which runs serialized: its tests look for stray `ppdash engine` processes machine-wide.
extension EnginesE2ETests {
    @Test("a proc worker killed (kill -9) mid-task with --retries 1: the task's side effect happens exactly once")
    func killedWorkerTaskRunsOnce() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let d = shellQuote(dir.path)
        let child = try #require(
            PPDash.start(
                [
                    "run", "-e", "proc:2", "--retries", "1", "--no-journal", "--",
                    // Each attempt waits for the test's go (at most 30 s): the kill always falls mid-task, however
                    // slowly this test is scheduled.
                    "echo $PPID >> \(d)/pids; i=0; while [ ! -e \(d)/go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; echo ran {} >> \(d)/f",
                    ":::", "B",
                ], timeout: 60))
        let pids = await workerPids(dir, count: 1)
        #expect(pids.count == 1, "the task started")
        if let victim = pids.first { kill(victim, SIGKILL) }
        // The retry starts only once the first attempt is killed and gone: then the go lets it finish.
        let retried = await workerPids(dir, count: 2)
        #expect(retried.count == 2, "the task was retried on the other worker")
        _ = FileManager.default.createFile(atPath: dir.file("go"), contents: nil)
        let r = await child.wait()
        #expect(r.exitCode == 0, "\(r)")
        #expect(lines(dir, "f") == ["ran B"], "exactly one run reached its side effect\(r)")
        #expect(r.err.contains("died: killed by signal 9"), "\(r)")
        #expect(await gone(retried), "the workers are gone")
    }

    @Test("a task that kills its own worker before its started frame is out: it is stopped, never reported 'before starting'")
    func startedFrameLost() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let d = shellQuote(dir.path)
        let r = await PPDash.run(
            [
                "run", "-e", "proc:2", "--retries", "1", "--no-journal", "--",
                "echo $PPID >> \(d)/pids; kill -KILL $PPID; sleep 1; echo ran {} >> \(d)/f", ":::", "B",
            ], timeout: 60)
        // Each run kills its worker at once; each is stopped with it: the side effect never happens.
        #expect(r.exitCode == 1, "\(r)")
        #expect(lines(dir, "f").isEmpty, "a task whose worker died was stopped, not left running\(r)")
        #expect(!r.err.contains("before starting"), "\(r)")
        #expect(r.err.contains("died: killed by signal 9 while running task 1"), "\(r)")
        #expect(await gone(lines(dir, "pids").compactMap { pid_t($0) }), "the workers are gone")
    }

    @Test("every proc engine killed: exit 1 within the heartbeat limit, the reason printed, nothing left running")
    func allEnginesKilled() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let d = shellQuote(dir.path)
        let marker = "sleep 30 # all-killed-\(getpid())"
        let child = try #require(
            PPDash.start(
                ["run", "-e", "proc:2", "--no-journal", "--", "echo $PPID >> \(d)/pids; \(marker) {}", ":::", "1..6"],
                timeout: 60))
        let pids = await workerPids(dir, count: 2)
        #expect(pids.count == 2, "both engines busy")
        let killed = now()
        for p in pids { kill(p, SIGKILL) }
        let r = await child.wait()
        let took = now() - killed
        #expect(r.exitCode == 6, "GNU parallel's status: 6 tasks failed\(r)")
        #expect(took < 5, "ended \(took) s after the kill; the heartbeat limit is 5 s")
        #expect(r.err.contains("no engine left to run it: engine "), "\(r)")
        #expect(r.err.contains("6 tasks: 0 ok, 6 failed"), "\(r)")
        #expect(await waitForNoProcesses(matching: marker).isEmpty, "the killed workers' tasks are gone")
    }

    @Test("a SIGSTOPped proc worker is declared dead and its task killed before the retry: the side effect happens once")
    func stoppedWorker() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let d = shellQuote(dir.path)
        let child = try #require(
            PPDash.start(
                [
                    "run", "-e", "proc:2", "--heartbeat", "0.2", "--retries", "1", "--no-journal", "--",
                    "echo $PPID >> \(d)/pids; sleep 3; echo ran {} >> \(d)/f", ":::", "B",
                ], timeout: 60))
        let pids = await workerPids(dir, count: 1)
        #expect(pids.count == 1)
        if let victim = pids.first { kill(victim, SIGSTOP) }
        let r = await child.wait()
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.err.contains("died: missed 5 heartbeats"), "\(r)")
        // The stopped worker's task would have written its line at 3 s: give it that long to show it did not.
        try await Task.sleep(for: .seconds(1))
        #expect(lines(dir, "f") == ["ran B"], "\(r)")
        #expect(await gone(pids), "the workers are gone")
    }

    @Test("tasks only queued on a killed proc worker go back to the queue: no error, no retry spent")
    func queuedOnlyNotCharged() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let d = shellQuote(dir.path)
        let child = try #require(
            PPDash.start(
                ["run", "-e", "proc:2", "--json", "--no-journal", "--", "echo $PPID >> \(d)/pids; sleep 1; echo {}", ":::", "1..6"],
                timeout: 60))
        let pids = await workerPids(dir, count: 1)
        if let victim = pids.first { kill(victim, SIGKILL) }
        let r = await child.wait()
        #expect(r.exitCode == 1, "the running task fails (no --retries)\(r)")
        let recs = records(r)
        #expect(recs.count == 6, "\(r)")
        let failed = recs.values.filter { $0.status != "ok" }
        #expect(failed.count == 1, "only the running task fails\(r)")
        #expect(failed.first?.error.contains("while running task") == true, "\(r)")
        #expect(recs.values.allSatisfy { $0.retries == 0 }, "no retry charged\(r)")
        #expect(!r.err.contains("before starting"), "\(r)")
    }

    @Test("a connected-in worker stopped with SIGTERM: queued tasks run elsewhere unpaid, its running task is retried, not aborted")
    func connectedWorkerSIGTERM() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let d = shellQuote(dir.path)
        let port = freePort()
        let tokenFile = dir.file("token")
        let run = try #require(
            PPDash.start(
                [
                    "run", "-e", "listen:\(port)", "--token-file", tokenFile, "--retries", "1", "--json", "--no-journal",
                    "--", "echo $PPID >> \(d)/pids; sleep 1; echo {}", ":::", "1..6",
                ], timeout: 60))
        let connect = ["engine", "--connect", "127.0.0.1:\(port)", "--token-file", tokenFile]
        // The run creates the token file as it starts listening.
        let listening = now() + 20
        while !dir.exists("token") && now() < listening { try await Task.sleep(for: .milliseconds(20)) }
        let first = try #require(PPDash.start(connect, timeout: 60))
        let pids = await workerPids(dir, count: 1)
        #expect(pids.count == 1, "the first worker runs a task")
        let second = try #require(PPDash.start(connect, timeout: 60))
        first.signal(SIGTERM)
        let w1 = await first.wait()
        #expect(w1.exitCode == 128 + SIGTERM, "\(w1)")
        let r = await run.wait()
        _ = await second.wait()
        #expect(r.exitCode == 0, "\(r)")
        let recs = records(r)
        #expect(recs.count == 6 && recs.values.allSatisfy { $0.status == "ok" }, "\(r)")
        #expect(recs.values.filter { $0.retries == 1 }.count == 1, "only the running task was charged a retry\(r)")
        #expect(!r.out.contains("aborted") && !r.err.contains("aborted by"), "\(r)")
    }

    @Test("engine --connect to a server that accepts and never speaks: exit 1 after the handshake timeout, saying why")
    func connectToSilentServer() async throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in bind(fd, p, len) == 0 && getsockname(fd, p, &len) == 0 }
        }
        #expect(bound && listen(fd, 4) == 0)
        let dir = TempDir()
        defer { dir.remove() }
        _ = FileManager.default.createFile(
            atPath: dir.file("token"), contents: Data("0123456789abcdef0123456789abcdef\n".utf8),
            attributes: [.posixPermissions: 0o600])
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let r = await PPDash.run(["engine", "--connect", "127.0.0.1:\(port)", "--token-file", dir.file("token")], timeout: 30)
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.elapsed < 15, "\(r)")
        #expect(r.err.contains("did not complete the handshake within 5 s"), "\(r)")
    }
}
