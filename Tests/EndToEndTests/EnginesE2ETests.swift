// Engines beyond the ppdash process, through the real binary: worker processes, connect-in workers, ssh through a
// private OpenSSH server on loopback, and the death of a worker mid-batch.
import PPSystem
import Foundation
import Testing

import Glibc

// MARK: - Helpers

/// The `f(x) = y` lines of `ppdash demo`: the results, in submission order.
private func resultLines(_ r: RunResult) -> [String] {
    r.outLines.filter { $0.hasPrefix("  f(") }
}

/// The recipe's results for `n` tasks, as demo prints them.
private func expectedResults(_ n: Int) -> [String] { (0..<n).map { "  f(\($0)) = \($0 * $0)" } }

/// A `key: value` field of demo's metadata[0] block.
private func metadataField(_ r: RunResult, _ key: String) -> String? {
    r.outLines.first { $0.hasPrefix("  \(key): ") }.map { String($0.dropFirst(key.count + 4)) }
}

/// JSON records of `run --json`, by task id, without the fields that differ from run to run (times, engine).
private func comparableRecords(_ r: RunResult) -> [String: [String: String]] {
    var out: [String: [String: String]] = [:]
    for line in r.outLines {
        guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { continue }
        var kept: [String: String] = [:]
        for k in ["seq", "args", "command", "status", "exit", "signal", "stdout", "stderr", "error", "retries"] {
            kept[k] = "\(o[k] ?? "missing")"
        }
        out["\(o["id"] ?? "?")"] = kept
    }
    return out
}

/// A port on 127.0.0.1 that was free a moment ago (the engine suites' one helper).
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
            bind(fd, p, len)
            return getsockname(fd, p, &len)
        }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Sends `bytes` to 127.0.0.1:`port` and reports whether the peer then closed within `timeout` seconds.
private func sendAndSeeClosed(port: Int, _ bytes: [UInt8], timeout: Double) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let end = now() + timeout
    var connected = false
    while !connected && now() < end {
        connected =
            withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            } == 0
        if !connected { usleep(50_000) }
    }
    guard connected else { return false }
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    var buf = [UInt8](repeating: 0, count: 4096)
    while now() < end {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if poll(&p, 1, 50) <= 0 { continue }
        if buf.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) <= 0 { return true }
    }
    return false
}

/// Worker processes (`ppdash engine --stdio`) of ppdash `pid`: its children, or its fork server's (which forks them).
private func workers(of pid: pid_t) -> [ProcInfo] { workers(of: pid, in: processTable()) }

private func workers(of pid: pid_t, in table: [ProcInfo]) -> [ProcInfo] {
    let servers = Set(table.filter { $0.ppid == pid && $0.cmdline.contains("engine --fork-server") }.map(\.pid))
    return table.filter { ($0.ppid == pid || servers.contains($0.ppid)) && $0.cmdline.hasPrefix("ppdash engine --stdio") }
}

/// Waits until some child of a worker of `pid` runs (a task is under way); returns that worker.
/// A worker process of ppdash `pid` running a task; with `journal`, one whose task the journal already records as
/// started (its process group is there), so the scheduler knows it runs.
private func busyWorker(of pid: pid_t, journal: String? = nil, timeout: Double = 10) async -> ProcInfo? {
    let end = now() + timeout
    while now() < end {
        let table = processTable()
        let recorded = journal.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }
        for w in workers(of: pid, in: table) {
            for task in table where task.ppid == w.pid {
                if recorded == nil || recorded!.contains("\"pgid\":\(task.pid),") { return w }
            }
        }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return nil
}

private let sshd = "/usr/sbin/sshd"

// MARK: - Tests

@Suite("engines in other processes", .endToEndSlot, .serialized)
struct EnginesE2ETests {
    @Test("the recipe on proc:4 gives the same results and full metadata as on local:4")
    func demoProcMatchesLocal() async {
        let args = ["demo", "--headless", "--tasks", "100", "--sleep", "0.01"]
        let local = await PPDash.run(args + ["-e", "local:4"], timeout: 60)
        let proc = await PPDash.run(args + ["-e", "proc:4"], timeout: 60)
        #expect(local.exitCode == 0, "\(local)")
        #expect(proc.exitCode == 0, "\(proc)")
        #expect(resultLines(local) == expectedResults(100), "\(local)")
        #expect(resultLines(proc) == resultLines(local), "\(proc)")
        #expect(metadataField(proc, "status") == "ok", "\(proc)")
        #expect(metadataField(proc, "host") == metadataField(local, "host"), "\(proc)")
        for key in ["engine_id", "started", "completed", "received", "duration"] {
            #expect(metadataField(proc, key).map { $0 != "None" } == true, "metadata[0].\(key)\(proc)")
        }
        #expect(
            await waitForNoProcesses(matching: "ppdash engine --stdio").isEmpty, "worker processes exit with ppdash")
    }

    @Test("run -e proc:2 --json: the same records as local engines, failures and stderr included")
    func runProcMatchesLocal() async {
        let sweep = ["--", "echo out{}; echo err{} >&2; exit $(({} % 3 == 0))", ":::", "1..9"]
        let local = await PPDash.run(["run", "-j", "2", "--json"] + sweep, timeout: 60)
        let proc = await PPDash.run(["run", "-e", "proc:2", "--json"] + sweep, timeout: 60)
        #expect(local.exitCode == 3, "tasks 3, 6 and 9 fail: GNU parallel's status 3\(local)")
        #expect(proc.exitCode == 3, "\(proc)")
        let want = comparableRecords(local)
        #expect(want.count == 9, "\(local)")
        #expect(comparableRecords(proc) == want, "\(proc)")
        let plainLocal = await PPDash.run(["run", "-j", "2", "--keep-order"] + sweep, timeout: 60)
        let plainProc = await PPDash.run(["run", "-e", "proc:2", "--keep-order"] + sweep, timeout: 60)
        #expect(plainProc.out == plainLocal.out, "\(plainProc)")
    }

    @Test(
        "a worker killed mid-batch: with --retries 1 no task is lost; without, the error names engine, host, cause and task"
    )
    func killWorkerMidBatch() async throws {
        let sweep = ["--", "sleep 0.3; echo {}", ":::", "1..6"]
        let withRetry = try #require(
            PPDash.start(["run", "-e", "proc:3", "--retries", "1", "--json"] + sweep, timeout: 60))
        let victim = await busyWorker(of: withRetry.pid)
        #expect(victim != nil, "a worker process running a task")
        if let victim { kill(victim.pid, SIGKILL) }
        let r = await withRetry.wait()
        #expect(r.exitCode == 0, "\(r)")
        let records = comparableRecords(r)
        #expect(
            Set(records.values.compactMap { $0["stdout"] }) == Set((1...6).map { "\($0)\n" }),
            "all 6 tasks ran to the end\(r)")
        #expect(records.values.contains { $0["retries"] == "1" }, "the killed task was retried\(r)")
        #expect(r.err.contains("died: killed by signal 9"), "\(r)")

        // The task must be known to run when its worker dies ("while running"), not only be running.
        let dir = TempDir()
        defer { dir.remove() }
        let noRetry = try #require(
            PPDash.start(["run", "-e", "proc:3", "--journal", dir.file("j.jsonl")] + sweep, timeout: 60))
        let second = await busyWorker(of: noRetry.pid, journal: dir.file("j.jsonl"))
        if let second { kill(second.pid, SIGKILL) }
        let r2 = await noRetry.wait()
        #expect(r2.exitCode == 1, "\(r2)")
        let line = r2.errLines.first { $0.contains("while running task") }
        #expect(
            line?.contains(#/error: engine \d \(.+\) died: killed by signal 9 while running task \d/#) == true,
            "the failed task's error\(r2)")
        // The other engine finished the rest.
        #expect(r2.outLines.count >= 6 - 2, "\(r2)")
        #expect(await waitForNoProcesses(matching: "sleep 0.3; echo").isEmpty, "no orphaned task")
    }

    @Test(
        "connect-in: 4 workers with the token run the recipe; wrong token and garbage are refused; the listener keeps serving"
    )
    func connectIn() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let port = freePort()
        let tokenFile = dir.file("token")
        let demo = try #require(
            PPDash.start(
                [
                    "demo", "--headless", "-e", "listen:\(port)", "--token-file", tokenFile, "--tasks", "100",
                    "--sleep", "0.01",
                ],
                timeout: 60))
        // Garbage first: refused and closed.
        #expect(sendAndSeeClosed(port: port, Array("GET / HTTP/1.0\r\n\r\n".utf8), timeout: 10), "garbage closed")
        var st = stat()
        #expect(stat(tokenFile, &st) == 0 && st.st_mode & 0o777 == 0o600, "token file created 0600")

        // A wrong token: refused, the worker says so and exits 1.
        let wrongFile = dir.file("wrong")
        _ = FileManager.default.createFile(
            atPath: wrongFile, contents: Data("0123456789abcdef0123456789abcdef\n".utf8),
            attributes: [.posixPermissions: 0o600])
        let wrong = await PPDash.run(
            ["engine", "--connect", "127.0.0.1:\(port)", "--token-file", wrongFile], timeout: 20)
        #expect(wrong.exitCode == 1, "\(wrong)")
        #expect(wrong.err.contains("refused this worker"), "\(wrong)")

        let engines = (0..<4).compactMap { _ in
            PPDash.start(["engine", "--connect", "127.0.0.1:\(port)", "--token-file", tokenFile], timeout: 60)
        }
        let r = await demo.wait()
        #expect(r.exitCode == 0, "\(r)")
        #expect(resultLines(r) == expectedResults(100), "\(r)")
        #expect(metadataField(r, "status") == "ok", "\(r)")
        #expect(r.err.contains("ppdash engine --connect 127.0.0.1:\(port) --token-file"), "the connect line\(r)")
        #expect(r.err.contains("refused an engine connection from 127.0.0.1"), "\(r)")
        #expect(r.err.contains("wrong token"), "\(r)")
        for e in engines {
            let w = await e.wait()
            // A worker that joined after the batch ended sees the scheduler go before its welcome: exit 1.
            #expect(w.exitCode == 0 || w.err.contains("before welcoming"), "\(w)")
        }
    }

    @Test(
        "ssh engines through a private sshd on loopback: the recipe, a shell sweep, and a killed ssh link",
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: sshd),
            "no \(sshd): install openssh-server to run the ssh engine tests"))
    func sshEngines() async throws {
        let bin = try #require(PPDash.path, "ppdash binary")
        let server = try await PrivateSSHD.start()
        defer { server.stop() }
        let ssh = "ssh -F \(server.clientConfig)"
        let spec = "ssh:4/127.0.0.1:\(server.port)"
        let demo = await PPDash.run(
            [
                "demo", "--headless", "-e", spec, "--ssh", ssh, "--remote-ppdash", bin, "--tasks", "100", "--sleep",
                "0.01",
            ], timeout: 60)
        #expect(demo.exitCode == 0, "\(demo)\n--- sshd log ---\n\(server.log)")
        #expect(resultLines(demo) == expectedResults(100), "\(demo)")
        #expect(metadataField(demo, "status") == "ok", "\(demo)")

        // PPDASH_SSH instead of --ssh; the submitting directory is used where it exists on the host.
        let dir = TempDir()
        defer { dir.remove() }
        let run = await PPDash.run(
            [
                "run", "-e", "ssh:2/127.0.0.1:\(server.port)", "--remote-ppdash", bin, "--keep-order", "--",
                "echo {} $(pwd)", ":::", "a", "b", "c",
            ],
            env: ["PPDASH_SSH": ssh], directory: dir.path, timeout: 60)
        #expect(run.exitCode == 0, "\(run)")
        let real = URL(fileURLWithPath: dir.path).resolvingSymlinksInPath().path
        #expect(
            run.outLines == ["a", "b", "c"].map { "\($0) \(real)" }
                || run.outLines == ["a", "b", "c"].map { "\($0) \(dir.path)" }, "\(run)")

        // Kill one ssh client mid-task: the engine dies naming ssh, the task runs again elsewhere, and the
        // remote worker (its input gone) stops its task: nothing is orphaned on the host.
        let marker = "sleep 0.7$((\(Int.random(in: 1000...9999))*0))"
        let killed = try #require(
            PPDash.start(
                [
                    "run", "-e", "ssh:2/127.0.0.1:\(server.port)", "--ssh", ssh, "--remote-ppdash", bin, "--retries",
                    "1", "--",
                    "\(marker); echo {}", ":::", "1", "2", "3", "4",
                ], timeout: 60))
        // The task's own shell (not ppdash, whose arguments hold the same text).
        let taskShells = { processes(matching: marker).filter { $0.cmdline.hasPrefix("sh -c") } }
        var client: ProcInfo?
        let end = now() + 10
        while client == nil && now() < end {
            if !taskShells().isEmpty {
                client = processTable().first { $0.ppid == killed.pid && $0.comm == "ssh" }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(client != nil, "an ssh client with a task under way")
        if let client { kill(client.pid, SIGKILL) }
        let k = await killed.wait()
        #expect(k.exitCode == 0, "\(k)")
        #expect(Set(k.outLines) == ["1", "2", "3", "4"], "\(k)")
        #expect(k.err.contains("died: ssh killed by signal 9"), "\(k)")
        let stopEnd = now() + 5
        while !taskShells().isEmpty && now() < stopEnd { try await Task.sleep(for: .milliseconds(50)) }
        #expect(taskShells().isEmpty, "the remote task was stopped")
        #expect(
            await waitForNoProcesses(matching: "\(bin) engine --stdio", timeout: 5).isEmpty, "remote workers exited")
    }
}

/// An OpenSSH server of the test's own: config, host key and user key in a temporary directory, on a free
/// 127.0.0.1 port; the machine's sshd and ~/.ssh are not touched.
struct PrivateSSHD {
    let dir: TempDir
    let port: Int
    let child: Child
    var clientConfig: String { dir.file("ssh_config") }
    var log: String { (try? String(contentsOfFile: dir.file("sshd.log"), encoding: .utf8)) ?? "" }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func start() async throws -> PrivateSSHD {
        // sshd refuses to start without its privilege separation directory.
        if !FileManager.default.fileExists(atPath: "/run/sshd") {
            try FileManager.default.createDirectory(
                atPath: "/run/sshd", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        let dir = TempDir()
        for key in ["host_key", "id"] {
            let r = await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir.file(key)], timeout: 20)
            guard r.exitCode == 0 else { throw Failure(description: "ssh-keygen failed: \(r)") }
        }
        try FileManager.default.copyItem(atPath: dir.file("id.pub"), toPath: dir.file("authorized_keys"))
        let port = freePort()
        let user = ProcessInfo.processInfo.environment["USER"] ?? String(cString: getpwuid(getuid()).pointee.pw_name)
        let server = """
            ListenAddress 127.0.0.1
            Port \(port)
            HostKey \(dir.file("host_key"))
            PidFile \(dir.file("sshd.pid"))
            AuthorizedKeysFile \(dir.file("authorized_keys"))
            PermitRootLogin prohibit-password
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes no
            SetEnv SHLVL=1
            KexAlgorithms curve25519-sha256

            """
        let client = """
            Host *
              User \(user)
              IdentityFile \(dir.file("id"))
              IdentitiesOnly yes
              StrictHostKeyChecking no
              UserKnownHostsFile /dev/null
              LogLevel ERROR
              KexAlgorithms curve25519-sha256

            """
        try server.write(toFile: dir.file("sshd_config"), atomically: true, encoding: .utf8)
        try client.write(toFile: dir.file("ssh_config"), atomically: true, encoding: .utf8)
        let child = Child.start(
            ["/bin/sh", "-c", "exec \(sshd) -D -e -f \"$0\" 2>\"$1\"", dir.file("sshd_config"), dir.file("sshd.log")],
            timeout: 120)
        let s = PrivateSSHD(dir: dir, port: port, child: child)
        let end = now() + 10
        while now() < end {
            if s.log.contains("Server listening on") { return s }
            if child.result != nil { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        s.stop()
        throw Failure(description: "sshd did not start: \(s.log)")
    }

    /// Ends the sessions first (SIGTERM to sshd leaves them running), then sshd; removes the directory.
    func stop() {
        for p in processTable() where p.ppid == child.pid { kill(p.pid, SIGTERM) }
        child.signal(SIGTERM)
        _ = child.waitBlocking()
        dir.remove()
    }
}
