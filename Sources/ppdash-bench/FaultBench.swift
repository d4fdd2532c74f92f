// Issue 13's figures for faults and scale, each through the real `ppdash` binary beside this one: memory while
// 100,000 tasks write 128 KiB each, memory at the start of ::: 1..10000000, a killed proc worker with --retries 1,
// every engine killed, a full disk then resume, --halt now with the journal on, SIGKILL then resume, and 17 idle
// viewers before a real attach. Each run is in a fresh state directory (XDG_STATE_HOME) removed afterwards.
import Foundation
import Glibc
import PPJournal
import PPSystem

/// A `ppdash` (or `sh -c`) child of the bench: its peak memory read from /proc while it runs.
struct BenchChild {
    let child: ChildProcess
    var pid: pid_t { child.pid }

    /// Starts `argv` with `env` on top of ours, stdout and stderr to files (or /dev/null), in its own group.
    static func start(
        _ argv: [String], env: [String: String], stdout: String = "/dev/null", stderr: String = "/dev/null",
        directory: String? = nil
    ) throws -> BenchChild {
        var plan = SpawnPlan(
            executable: argv[0], arguments: argv,
            descriptors: [
                .open("/dev/null", flags: O_RDONLY, to: 0),
                .open(stdout, flags: O_WRONLY | O_CREAT | O_TRUNC, to: 1),
                .open(stderr, flags: O_WRONLY | O_CREAT | O_TRUNC, to: 2),
            ])
        plan.environment = env
        plan.workingDirectory = directory
        do throws(Errno) {
            return BenchChild(child: try plan.spawn())
        } catch {
            throw BenchError("cannot start \(argv[0]): \(SystemFacts.errorText(error.rawValue))")
        }
    }

    /// VmHWM of the running child, in bytes (0 once it is gone).
    var peakResident: Int {
        guard let raw = SystemFacts.contents(of: "/proc/\(pid)/status") else { return 0 }
        for line in String(decoding: raw, as: UTF8.self).split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return (line.split(separator: " ").compactMap { Int($0) }.first ?? 0) * 1024
        }
        return 0
    }

    /// Waits for the exit (at most `timeout` s, then SIGKILL to its group), reading its peak memory every 20 ms;
    /// (exit code or 128+signal, peak bytes, seconds waited).
    func wait(timeout: Double) -> (code: Int32, peak: Int, seconds: Double) {
        let t0 = SystemTime.monotonicSeconds()
        var peak = 0
        while !child.hasExited {
            peak = max(peak, peakResident)
            if SystemTime.monotonicSeconds() - t0 > timeout {
                child.sendToGroup(signal: SIGKILL)
                break
            }
            usleep(20_000)
        }
        let status = child.wait()
        let code = status?.exitCode ?? status?.signal.map { 128 + $0 } ?? -1
        return (code, peak, SystemTime.monotonicSeconds() - t0)
    }
}

enum FaultBench {
    /// A fresh state directory and scratch space for one figure; removed by `done`.
    struct Scratch {
        let dir: String
        init(_ name: String) throws {
            dir = NSTemporaryDirectory() + "ppdash-bench-\(name)-\(getpid())"
            try? FileManager.default.removeItem(atPath: dir)
            try FileManager.default.createDirectory(atPath: dir + "/state", withIntermediateDirectories: true)
        }
        var env: [String: String] { ["XDG_STATE_HOME": dir + "/state", "TERM": "dumb"] }
        func file(_ name: String) -> String { dir + "/" + name }
        func text(_ name: String) -> String {
            (try? String(contentsOfFile: file(name), encoding: .utf8)) ?? ""
        }
        func done() { try? FileManager.default.removeItem(atPath: dir) }
    }

    /// Peak memory of `ppdash run` while `count` tasks each write 64 KiB to stdout and 64 KiB to stderr (default
    /// --max-output, stdout to /dev/null, no journal: with one it would hold every byte, 13 GB for 100,000 tasks of
    /// text and six times that of NUL bytes, which JSON writes as \u0000): (peak bytes, seconds).
    static func outputMemory(count: Int) throws -> (peak: Double, seconds: Double) {
        let ppdash = try ppdashBeside()
        let s = try Scratch("outmem")
        defer { s.done() }
        let p = try BenchChild.start(
            [
                ppdash, "run", "-j", "2", "--no-journal", "--",
                "head -c 65536 /dev/zero; head -c 65536 /dev/zero >&2; : {}", ":::",
                "1..\(count)",
            ], env: s.env)
        let r = p.wait(timeout: 3600)
        guard r.code == 0 else { throw BenchError("the output-memory run exited \(r.code)") }
        return (Double(r.peak), r.seconds)
    }

    /// Peak memory of `ppdash run` over `::: 1..10000000` in its first `seconds` (tasks under way), then SIGTERM.
    static func rangeStartMemory(seconds: Double) throws -> Double {
        let ppdash = try ppdashBeside()
        let s = try Scratch("range")
        defer { s.done() }
        let p = try BenchChild.start(
            [ppdash, "run", "-j", "2", "--", "sleep 0.01; : {}", ":::", "1..10000000"], env: s.env)
        var peak = 0
        let t0 = SystemTime.monotonicSeconds()
        while SystemTime.monotonicSeconds() - t0 < seconds && !p.child.hasExited {
            peak = max(peak, p.peakResident)
            usleep(20_000)
        }
        p.child.send(signal: SIGTERM)
        let r = p.wait(timeout: 30)
        guard r.code != 0 || peak > 0 else { throw BenchError("the 10M-range run ended before it was measured") }
        return Double(max(peak, r.peak))
    }

    /// A proc worker killed mid-task (by the task itself) with --retries 1: how many times the side effect ran.
    static func killedWorkerSideEffects() throws -> Double {
        let ppdash = try ppdashBeside()
        let s = try Scratch("killedworker")
        defer { s.done() }
        // The first attempt kills its worker, then (if it were left running) would write after 2 s.
        let task = "if [ ! -e \(s.file("first")) ]; then touch \(s.file("first")); kill -KILL $PPID; fi; sleep 2; echo ran {} >> \(s.file("effects"))"
        let p = try BenchChild.start(
            [ppdash, "run", "-e", "proc:2", "--retries", "1", "--", task, ":::", "B"], env: s.env)
        let r = p.wait(timeout: 120)
        guard r.code == 0 else { throw BenchError("the killed-worker run exited \(r.code)") }
        // A task left running by the dead worker would write up to 2 s after the retry's line.
        usleep(2_500_000)
        return Double(s.text("effects").split(separator: "\n").count)
    }

    /// Every proc engine killed mid-batch: seconds from the kill to ppdash's exit, and its exit code.
    static func allEnginesKilled() throws -> (seconds: Double, code: Int32) {
        let ppdash = try ppdashBeside()
        let s = try Scratch("allkilled")
        defer { s.done() }
        let p = try BenchChild.start(
            [ppdash, "run", "-e", "proc:2", "--", "sleep 30; : {}", ":::", "1", "2", "3", "4"], env: s.env)
        var workers: [pid_t] = []
        let t0 = SystemTime.monotonicSeconds()
        while workers.count < 2 && SystemTime.monotonicSeconds() - t0 < 30 {
            // Its children, or its fork server's (which forks the workers): the server itself is not one.
            let all = SystemFacts.processes().filter { !$0.isZombie }
            let mine = Set(all.filter { $0.parent == p.pid }.map(\.pid))
            workers = all.filter { mine.contains($0.pid) || mine.contains($0.parent) }.map(\.pid).filter {
                SystemFacts.commandLine(of: $0)?.last == "--stdio"
            }
            usleep(20_000)
        }
        guard workers.count == 2 else { throw BenchError("the proc workers did not start") }
        usleep(300_000)  // tasks under way
        let killedAt = SystemTime.monotonicSeconds()
        for w in workers { kill(w, SIGKILL) }
        let r = p.wait(timeout: 120)
        // Their tasks' groups are the run's to kill; any left are the bench's to clean up.
        return (SystemTime.monotonicSeconds() - killedAt, r.code)
    }

    /// A disk that fills while journaling (`ulimit -f`, SIGXFSZ ignored: EFBIG) halfway through the batch: the run's
    /// exit code, the tasks `resume` ran again that the journal had recorded ok, how many it had, and how many tasks
    /// were ok after the resume. The limit is half the journal a whole run writes (measured first), so the disk fills
    /// after some tasks were recorded ok whatever the journal's format: a row where none or all were is refused.
    static func fullDisk(count: Int) throws -> (code: Int32, rerunOK: Double, okBefore: Int, okAfter: Int) {
        let ppdash = try ppdashBeside()
        let s = try Scratch("fulldisk")
        defer { s.done() }
        let run = [ppdash, "run", "-j", "2", "--journal"]
        let task = ["--", "echo {}", ":::", "1..\(count)"]
        let whole = s.file("whole.jsonl")
        _ = try BenchChild.start(run + [whole] + task, env: s.env).wait(timeout: 600)
        var st = stat()
        guard stat(whole, &st) == 0, st.st_size > 4096 else { throw BenchError("the full-disk row's whole run wrote no journal") }
        // dash's `ulimit -f` counts 512-byte blocks.
        let blocks = max(8, Int(st.st_size) / 2 / 512)
        let journal = s.file("j.jsonl")
        let script = "trap '' XFSZ; ulimit -f \(blocks); exec \"$0\" \"$@\""
        let r = try BenchChild.start(["/bin/sh", "-c", script] + run + [journal] + task, env: s.env).wait(timeout: 600)
        let okBefore = try okIDs(journal)
        guard !okBefore.isEmpty, okBefore.count < count else {
            throw BenchError("the disk filled with \(okBefore.count) of \(count) tasks recorded ok: the row would prove nothing")
        }
        let resumed = try BenchChild.start(
            [ppdash, "resume", journal, "--kill-orphans", "--json"], env: s.env, stdout: s.file("resume.out"))
        _ = resumed.wait(timeout: 1200)
        var rerun = 0
        for line in s.text("resume.out").split(separator: "\n") {
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { continue }
            if let id = o["id"].map({ "\($0)" }), okBefore.contains(id) { rerun += 1 }
        }
        return (r.code, Double(rerun), okBefore.count, try okIDs(journal).count)
    }

    /// The keys of the tasks a journal records as completed ok (read by ppdash's own reader).
    static func okIDs(_ journal: String) throws -> Set<String> {
        let contents = try JournalReader.read(journal, keepOutput: false)
        var ok = Set<String>()
        for t in contents.tasks where t.status == .ok { ok.insert(t.key) }
        return ok
    }

    /// `--halt now` over `count` failing tasks on 2 engines, journal on: how many failed.
    static func haltNow(count: Int) throws -> Double {
        let ppdash = try ppdashBeside()
        let s = try Scratch("halt")
        defer { s.done() }
        let journal = s.file("j.jsonl")
        let p = try BenchChild.start(
            [ppdash, "run", "-j", "2", "--halt", "now", "--journal", journal, "--", "false {}", ":::", "1..\(count)"],
            env: s.env)
        let r = p.wait(timeout: 600)
        guard r.code != 0 else { throw BenchError("--halt now over failing tasks exited 0") }
        let text = (try? String(contentsOfFile: journal, encoding: .utf8)) ?? ""
        return Double(
            text.split(separator: "\n").filter { $0.contains("\"event\":\"completed\"") && $0.contains("\"status\":\"error\"") }
                .count)
    }

    /// SIGKILL 0.25 s into a `count`-task batch, then `resume --kill-orphans`: tasks whose side effect happened
    /// other than once (missing or twice).
    static func killThenResume(count: Int) throws -> (wrong: Double, seconds: Double) {
        let ppdash = try ppdashBeside()
        let s = try Scratch("killresume")
        defer { s.done() }
        let journal = s.file("j.jsonl")
        let effects = s.file("effects")
        // The first tasks are long (they are running at the kill, and the orphan check stops them before they
        // write); the side effect is each task's last act.
        let task = "if [ {} -le 4 ]; then sleep 3; fi; echo {} >> \(effects)"
        let p = try BenchChild.start(
            [ppdash, "run", "-j", "2", "--journal", journal, "--", task, ":::", "1..\(count)"], env: s.env)
        // 0.25 s into the batch: after its first task started (a loaded machine may take longer to get there).
        let t1 = SystemTime.monotonicSeconds()
        while !s.text("j.jsonl").contains("\"event\":\"started\"") && SystemTime.monotonicSeconds() - t1 < 60 {
            usleep(5_000)
        }
        usleep(250_000)
        p.child.send(signal: SIGKILL)
        _ = p.wait(timeout: 30)
        let t0 = SystemTime.monotonicSeconds()
        let resumed = try BenchChild.start([ppdash, "resume", journal, "--kill-orphans", "-j", "2"], env: s.env)
        let r = resumed.wait(timeout: 3600)
        guard r.code == 0 else { throw BenchError("resume after SIGKILL exited \(r.code)") }
        var seen = [Int: Int]()
        for line in s.text("effects").split(separator: "\n") { if let i = Int(line) { seen[i, default: 0] += 1 } }
        let wrong = (1...count).filter { seen[$0] != 1 }.count
        return (Double(wrong), SystemTime.monotonicSeconds() - t0)
    }

    /// 17 idle connections to a live run's attach socket, then a real `ppdash attach`: 1 when it shows the live
    /// batch (running, this pid), 0 when not.
    static func idleViewersThenAttach() throws -> Double {
        let ppdash = try ppdashBeside()
        let s = try Scratch("viewers")
        defer { s.done() }
        let journal = s.file("j.jsonl")
        let p = try BenchChild.start(
            [ppdash, "run", "-j", "2", "--journal", journal, "--", "sleep 5; : {}", ":::", "1", "2", "3", "4"],
            env: s.env)
        defer {
            p.child.send(signal: SIGTERM)
            _ = p.wait(timeout: 30)
        }
        var socketPath: String?
        let t0 = SystemTime.monotonicSeconds()
        while socketPath == nil && SystemTime.monotonicSeconds() - t0 < 20 {
            let text = s.text("j.jsonl")
            if text.contains("\"event\":\"started\""), let header = text.split(separator: "\n").first,
                let o = (try? JSONSerialization.jsonObject(with: Data(header.utf8))) as? [String: Any]
            {
                socketPath = o["socket"] as? String
            }
            if socketPath == nil { usleep(20_000) }
        }
        guard let socketPath else { throw BenchError("the run's journal names no attach socket") }
        var held: [Int32] = []
        defer { for fd in held { close(fd) } }
        for _ in 0..<17 { held.append(idleConnection(socketPath)) }
        usleep(1_500_000)  // idle past the server's eviction threshold
        let a = try BenchChild.start([ppdash, "attach", journal], env: s.env, stdout: s.file("attach.out"))
        _ = a.wait(timeout: 30)
        return s.text("attach.out").contains("running, pid \(p.pid)") ? 1 : 0
    }

    /// A connection to a unix socket that says nothing (-1 if it cannot connect).
    static func idleConnection(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard fd >= 0, bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return -1 }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 {
            close(fd)
            return -1
        }
        return fd
    }
}
