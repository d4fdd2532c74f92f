// Engines as Slurm jobs (`-e slurm:N`) on a real one-node Slurm that each test starts and stops itself
// (Support/Slurm.swift): results, the secret token, the queue in the dashboard, a cancelled job, clean endings.
import Foundation
import Testing

import Glibc

/// JSON records of `run --json`, by task id, without the fields that differ from run to run (times, engine).
private func records(_ r: RunResult) -> [String: [String: String]] {
    var out: [String: [String: String]] = [:]
    for line in r.outLines {
        guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { continue }
        var kept: [String: String] = [:]
        for k in ["seq", "args", "command", "status", "exit", "signal", "stdout", "stderr", "error"] {
            kept[k] = "\(o[k] ?? "missing")"
        }
        kept["fields"] = o.keys.sorted().joined(separator: ",")
        kept["retries"] = "\(o["retries"] ?? "missing")"
        out["\(o["id"] ?? "?")"] = kept
    }
    return out
}

/// A private HOME (its ~/.ppdash holds the jobs' directory) and PATH wrappers that log each Slurm command's calls
/// with the time, so a test can count them.
private struct Sandbox {
    let dir = TempDir()
    var home: String { dir.file("home") }
    var bin: String { dir.file("bin") }

    init() {
        mkdir(dir.file("home"), 0o700)
        mkdir(dir.file("bin"), 0o755)
        for cmd in ["sbatch", "squeue", "scancel"] {
            guard let real = SlurmCluster.locate(cmd) else { continue }
            let script = "#!/bin/sh\necho \"$(date +%s.%N) $*\" >> \(shellQuote(dir.file("\(cmd).calls")))\nexec \(real) \"$@\"\n"
            _ = FileManager.default.createFile(
                atPath: dir.file("bin/\(cmd)"), contents: Data(script.utf8), attributes: [.posixPermissions: 0o755])
        }
    }

    func env(_ cluster: SlurmCluster) -> [String: String?] {
        cluster.env.merging([
            "HOME": home, "PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
        ]) { $1 }
    }

    /// Each logged call of `cmd`: (time, arguments).
    func calls(_ cmd: String) -> [(Double, String)] {
        let text = (try? String(contentsOfFile: dir.file("\(cmd).calls"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ", maxSplits: 1)
            guard let t = Double(parts[0]) else { return nil }
            return (t, parts.count > 1 ? String(parts[1]) : "")
        }
    }

    /// The jobs' session directories under ~/.ppdash/slurm.
    var sessions: [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: home + "/.ppdash/slurm")) ?? []
    }

    func remove() { dir.remove() }
}

/// The ppdash arguments every Slurm run needs here: the binary the jobs run.
private var remote: [String] { ["--remote-ppdash", PPDash.path ?? "ppdash"] }

/// One test's private cluster and sandbox: `stop()` stops the one and removes the other.
private struct Fixture {
    let cluster: SlurmCluster
    let box = Sandbox()

    init(cpus: Int = 8) async throws { cluster = try await SlurmCluster.start(cpus: cpus) }

    func stop() {
        cluster.stop()
        box.remove()
    }

    /// The gate file that holds the tasks of `gated`.
    var go: String { box.dir.file("go") }

    /// A shell template that marks its task started (a file `started.ARG`), waits for the gate, then echoes ARG.
    var gated: String {
        "touch \(box.dir.file("started")).{}; while [ ! -e \(go) ]; do sleep 0.05; done; echo {}"
    }

    /// Waits (bounded) until `count` gated tasks have started.
    func waitForStarted(_ count: Int, timeout: Double = 30) async -> Bool {
        let deadline = now() + timeout
        while now() < deadline {
            if box.dir.contents.filter({ $0.hasPrefix("started.") }).count >= count { return true }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        return false
    }

    func openGate() { _ = FileManager.default.createFile(atPath: go, contents: nil) }
}

@Suite("engines as Slurm jobs", .endToEndSlot, .serialized, .enabled(if: SlurmCluster.enabled, "\(SlurmCluster.missing)"))
struct SlurmE2ETests {
    @Test("the recipe's sweep on slurm:4: the same results and fields as local:4; one squeue per poll; nothing left")
    func sweepMatchesLocal() async throws {
        let f = try await Fixture()
        defer { f.stop() }
        let (cluster, box) = (f.cluster, f.box)
        let sweep = ["--json", "--", "sleep 0.1; echo $(({}*{}))", ":::", "0..99"]
        let local = await PPDash.run(["run", "-e", "local:4"] + sweep, timeout: 60)
        let slurm = await PPDash.run(["run", "-e", "slurm:4"] + remote + sweep, env: box.env(cluster), timeout: 90)
        #expect(local.exitCode == 0, "\(local)")
        #expect(slurm.exitCode == 0, "\(slurm)\n\(cluster.log("slurmctld"))")
        let want = records(local)
        #expect(want.count == 100, "\(local)")
        #expect(records(slurm) == want, "\(slurm)")
        // One sbatch for the four engines (a job array); every squeue covers all jobs and comes a second or more
        // after the one before.
        #expect(box.calls("sbatch").count == 1, "\(box.calls("sbatch"))")
        let polls = box.calls("squeue")
        #expect(!polls.isEmpty)
        for (a, b) in zip(polls, polls.dropFirst()) { #expect(b.0 - a.0 >= 0.9, "squeue calls \(polls)") }
        #expect(polls.allSatisfy { $0.1.contains("--jobs=") }, "\(polls)")
        // Nothing is left: no job queued or running, no session directory.
        let queue = await cluster.waitForJobs(timeout: 10, states: "pending,running,completing") { $0.isEmpty }
        #expect(queue.ok, "jobs left in the queue: \(queue.jobs)")
        #expect(box.sessions.isEmpty, "left behind: \(box.sessions)")
    }

    @Test("the token is in no command line, no scontrol output, no job environment; its file is 0600")
    func tokenStaysSecret() async throws {
        let f = try await Fixture()
        defer { f.stop() }
        let (cluster, box) = (f.cluster, f.box)
        let go = box.dir.file("go")
        let child = try #require(
            PPDash.start(
                ["run", "-e", "slurm:2"] + remote
                    + ["--", "while [ ! -e \(go) ]; do sleep 0.05; done; echo {}", ":::", "1", "2"],
                env: box.env(cluster), timeout: 90))
        // Both engines in and running a task: their jobs are RUNNING.
        let running = await cluster.waitForJobs { $0.filter { $0.contains("RUNNING") }.count == 2 }
        #expect(running.ok, "\(running.jobs)")
        let session = try #require(box.sessions.first, "a session directory")
        let sdir = box.home + "/.ppdash/slurm/" + session
        // Both engine processes started (a RUNNING job may not have exec'd its engine yet).
        let mine = "/.ppdash/slurm/\(session)/token."  // the session's name is unique; HOME's // is normalised
        let deadline = now() + 20
        while now() < deadline, processes(matching: mine).count < 2 { try await Task.sleep(nanoseconds: 100_000_000) }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: sdir)) ?? []
        let tokens = files.filter { $0.hasPrefix("token.") }
        #expect(tokens.count == 2, "\(files)")
        var secrets: [String] = []
        for t in tokens {
            let attrs = try FileManager.default.attributesOfItem(atPath: sdir + "/" + t)
            #expect((attrs[.posixPermissions] as? Int) == 0o600, "\(t) mode")
            secrets.append(try String(contentsOfFile: sdir + "/" + t, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let script = try FileManager.default.attributesOfItem(atPath: sdir + "/engine.sh")
        #expect((script[.posixPermissions] as? Int) == 0o700, "the job script is its owner's alone")
        let scontrol = await cluster.command(["scontrol", "show", "job", "-d"])
        let squeue = await cluster.command(["squeue", "--array", "--format=%all"])
        let ps = await run(["ps", "-eww", "-o", "args"])
        var environs = ""
        for p in processes(matching: mine) {
            environs += (try? String(contentsOfFile: "/proc/\(p.pid)/environ", encoding: .isoLatin1)) ?? ""
        }
        #expect(scontrol.out.contains("engine.sh"), "scontrol shows the jobs\(scontrol)")
        #expect(ps.out.contains("engine --connect") && ps.out.contains(mine), "ps shows the engines: \(ps.outLines.filter { $0.contains("engine --connect") }) \(mine)")
        #expect(!environs.isEmpty, "the engines' environments were read")
        for s in secrets where !s.isEmpty {
            #expect(!scontrol.out.contains(s), "token in scontrol output")
            #expect(!squeue.out.contains(s), "token in squeue output")
            #expect(!ps.out.contains(s), "token in a command line")
            #expect(!environs.contains(s), "token in an engine's environment")
        }
        _ = FileManager.default.createFile(atPath: go, contents: nil)
        let r = await child.wait()
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.outLines.sorted() == ["1", "2"], "\(r)")
    }

    @Test("scancel of one job mid-batch: the engine dies with Slurm's reason, its task is retried, the batch completes")
    func scancelRetries() async throws {
        let f = try await Fixture()
        defer { f.stop() }
        let (cluster, box) = (f.cluster, f.box)
        let child = try #require(
            PPDash.start(
                ["run", "-e", "slurm:2", "--retries", "1", "--json"] + remote + ["--", f.gated, ":::", "1..4"],
                env: box.env(cluster), timeout: 90))
        // Two tasks running, one per engine: cancel the first job.
        #expect(await f.waitForStarted(2), "two tasks started")
        let jobs = await cluster.jobs(states: "running")
        let victim = try #require(jobs.first?.split(separator: " ").first.map(String.init), "a running job: \(jobs)")
        let cancel = await cluster.command(["scancel", victim])
        #expect(cancel.exitCode == 0, "\(cancel)")
        // Its engine is dead before the gate opens: the other engine runs the rest.
        let dead = await cluster.waitForJobs { $0.contains { $0.hasPrefix(victim + " CANCELLED") } }
        #expect(dead.ok, "\(dead.jobs)")
        f.openGate()
        let r = await child.wait()
        #expect(r.exitCode == 0, "\(r)")
        let recs = records(r)
        #expect(Set(recs.values.compactMap { $0["stdout"] }) == Set((1...4).map { "\($0)\n" }), "all 4 ran\(r)")
        #expect(recs.values.contains { $0["retries"] == "1" }, "the cancelled job's task was retried\(r)")
        // Its worker got scancel's SIGTERM and left saying bye; the batch may end before the next queue poll, and
        // ppdash then polls once more on its way out: the engine's death names Slurm's reason either way.
        #expect(r.err.contains("Slurm job \(victim) was cancelled (scancel)"), "the engine's death names Slurm's reason\(r)")
        let cancelled = r.errLines.filter { $0.contains("this ppdash submitted") }
        #expect(!cancelled.contains { $0.contains(victim) }, "a job Slurm already ended is not cancelled again\(r)")
        let queue = await cluster.waitForJobs(timeout: 10, states: "pending,running,completing") { $0.isEmpty }
        #expect(queue.ok, "jobs left: \(queue.jobs)")
    }

    @Test("Slurm's own endings: a preempted job's task is retried on the other engine; a failed node ends the last engine with its reason")
    func preemptionAndNodeFailure() async throws {
        // Two CPUs, two engine jobs: an urgent job that needs one CPU preempts one of them.
        let f = try await Fixture(cpus: 2)
        defer { f.stop() }
        let (cluster, box) = (f.cluster, f.box)
        let child = try #require(
            PPDash.start(
                ["run", "-e", "slurm:2", "--retries", "1", "--json"] + remote + ["--", f.gated, ":::", "1..3"],
                env: box.env(cluster), timeout: 90))
        #expect(await f.waitForStarted(2), "two tasks started")
        let urgent = await cluster.command(["sbatch", "--parsable", "--partition=urgent", "--ntasks=1", "--output=/dev/null", "--wrap", "sleep 1"])
        #expect(urgent.exitCode == 0, "\(urgent)")
        let preempted = await cluster.waitForJobs { $0.contains { $0.contains(" PREEMPTED") } }
        #expect(preempted.ok, "an engine job was preempted: \(preempted.jobs)")
        let victim = try #require(
            preempted.jobs.first { $0.contains(" PREEMPTED") }?.split(separator: " ").first.map(String.init))
        f.openGate()
        let r = await child.wait()
        #expect(r.exitCode == 0, "\(r)")
        let recs = records(r)
        #expect(Set(recs.values.compactMap { $0["stdout"] }) == Set((1...3).map { "\($0)\n" }), "all 3 ran\(r)")
        #expect(r.err.contains("Slurm job \(victim) was preempted"), "the engine's death names the preemption\(r)")

        // One engine, its node set DOWN mid-task: the job ends NODE_FAIL (engine jobs are never requeued) and Slurm
        // signals the job's processes, the task among them: it fails. The engine dies naming the node failure, and
        // the second task, with no engine left, fails naming that death. (Had the batch ended in that instant, the
        // job would be listed among those cancelled at exit, as the controller may not have said why yet.)
        try? FileManager.default.removeItem(atPath: f.go)
        for name in box.dir.contents where name.hasPrefix("started.") { unlink(box.dir.file(name)) }
        let one = try #require(
            PPDash.start(["run", "-e", "slurm:1"] + remote + ["--", f.gated, ":::", "9", "10"], env: box.env(cluster), timeout: 90))
        #expect(await f.waitForStarted(1), "the task started")
        let down = await cluster.command(["scontrol", "update", "nodename=\(cluster.node)", "state=down", "reason=ppdash-test"])
        #expect(down.exitCode == 0, "\(down)")
        let failed = await cluster.waitForJobs { $0.contains { $0.contains(" NODE_FAIL") } }
        #expect(failed.ok, "the job ended NODE_FAIL: \(failed.jobs)")
        let r2 = await one.wait()
        #expect(r2.exitCode == 2, "both tasks failed\(r2)")
        #expect(r2.err.contains("ended: its node failed"), "the engine's death names the node failure\(r2)")
        #expect(r2.out.isEmpty, "no task completed\(r2)")
    }

    @Test("a wrong partition, and a controller that does not answer: one clear line each, exit 2, nothing left")
    func badSubmission() async throws {
        let f = try await Fixture()
        defer { f.stop() }
        let (cluster, box) = (f.cluster, f.box)
        let sweep = ["--", "echo {}", ":::", "1"]
        let wrong = await PPDash.run(
            ["run", "-e", "slurm:2", "--slurm-opts", "--partition=nope"] + remote + sweep, env: box.env(cluster), timeout: 60)
        #expect(wrong.exitCode == 2, "\(wrong)")
        #expect(wrong.errLines.count == 1, "\(wrong)")
        #expect(wrong.err.contains("sbatch refused the engine jobs") && wrong.err.contains("partition"), "\(wrong)")
        #expect(box.sessions.isEmpty, "left behind: \(box.sessions)")

        // The same cluster's configuration with the controller on a port where nothing listens.
        let deadConf = box.dir.file("dead.conf")
        let text = try String(contentsOfFile: cluster.conf, encoding: .utf8).replacingOccurrences(
            of: #"SlurmctldPort=\d+"#, with: "SlurmctldPort=\(freePort())", options: .regularExpression)
        try text.write(toFile: deadConf, atomically: true, encoding: .utf8)
        var env = box.env(cluster)
        env["SLURM_CONF"] = deadConf
        let dead = await PPDash.run(["run", "-e", "slurm:2"] + remote + sweep, env: env, timeout: 60)
        #expect(dead.exitCode == 2, "\(dead)")
        #expect(dead.errLines.count == 1, "\(dead)")
        #expect(dead.err.contains("sbatch"), "\(dead)")
        #expect(box.sessions.isEmpty, "left behind: \(box.sessions)")

        let usage = await PPDash.run(["run", "-e", "local:2", "--slurm-opts", "--time=1"] + sweep, timeout: 30)
        #expect(usage.exitCode == 2 && usage.err.contains("--slurm-opts is for slurm engines"), "\(usage)")
        let notOption = await PPDash.run(["run", "-e", "slurm:1", "--slurm-opts", "debug"] + sweep, timeout: 30)
        #expect(notOption.exitCode == 2 && notOption.err.contains("not an sbatch option"), "\(notOption)")
        for reserved in ["--array=0-3", "--requeue", "-o x.out", "--output=x.out", "-a1-2"] {
            let refused = await PPDash.run(["run", "-e", "slurm:1", "--slurm-opts", reserved] + sweep, timeout: 30)
            #expect(refused.exitCode == 2 && refused.errLines.count == 1 && refused.err.contains("is not allowed"), "\(reserved): \(refused)")
        }
    }

    @Test(
        "the dashboard in tmux: a job PENDING then RUNNING on its node, queued counted apart, + submits one more, - cancels it, q cancels all",
        .enabled(if: Tmux.available, "tmux is not installed"))
    func dashboardShowsQueue() async throws {
        // One CPU: one engine job runs, the next waits for Resources.
        let f = try await Fixture(cpus: 1)
        defer { f.stop() }
        let (cluster, box) = (f.cluster, f.box)
        let bin = try #require(PPDash.path, "\(PPDash.notFound)")
        let env = box.env(cluster).compactMapValues { $0 }.map { "\($0.key)=\(shellQuote($0.value))" }.sorted()
        let cmd = (["env"] + env).joined(separator: " ") + " "
            + ([bin, "-e", "slurm:2"] + remote).map(shellQuote).joined(separator: " ")
        let (t, started) = await Tmux.start(
            "set -m; \(cmd) 2>\(shellQuote(box.dir.file("stderr"))); echo \"EXIT=$?\"; read x", width: 140, height: 30)
        defer { t.kill() }
        #expect(started.exitCode == 0, "\(started)")
        var w = await t.waitUntil(timeout: 30) { s in
            s.contains { $0.contains("job 1_0 RUNNING on \(cluster.node)") }
                && s.contains { $0.contains("job 1_1 PENDING") } && s.contains { $0.contains("1 queued") }
        }
        #expect(w.ok, "1_0 runs on its node, 1_1 waits, the header counts it queued\n\(w.screen.joined(separator: "\n"))")
        #expect(w.screen.contains { $0.contains("job 1_1 PENDING (Resources)") || $0.contains("job 1_1 PENDING (Priority)") }
            || w.screen.contains { $0.contains("job 1_1 PENDING") }, "Slurm's reason")
        // The running job ends (cancelled from outside): its engine dies saying so, the queued one starts.
        _ = await cluster.command(["scancel", "1_0"])
        w = await t.waitUntil(timeout: 30) { s in
            s.contains { $0.contains("job 1_1 RUNNING on \(cluster.node)") }
                && s.contains { $0.contains("Slurm job 1_0 was cancelled") }
        }
        #expect(w.ok, "1_1 went from PENDING to RUNNING; 1_0's engine is dead with Slurm's reason\n\(w.screen.joined(separator: "\n"))")
        // Its worker sends its host's load at once: the row shows Load and Free.
        w = await t.waitUntil(timeout: 10) { s in
            s.contains { $0.contains("job 1_1 RUNNING") && $0.contains(#/(\d+\.\d\d|\d{3,}) +\d+(\.\d)?[KMG]/#) }
        }
        #expect(w.ok, "the Slurm engine's row shows its host's Load and Free\n\(w.screen.joined(separator: "\n"))")
        // + submits one more engine job: queued behind the running one.
        await t.sendKeys("+")
        // (An array's job ids take one number per task: the next job is not 2_0.)
        w = await t.waitUntil(timeout: 20) { s in s.contains { $0.contains(#/job [2-9]\d*_0 PENDING/#) } }
        #expect(w.ok, "+ submitted a job\n\(w.screen.joined(separator: "\n"))")
        // - takes the last idle engine out: the queued job, which is cancelled (it leaves the queue).
        await t.sendKeys("-")
        let gone = await cluster.waitForJobs(timeout: 20, states: "pending") { $0.isEmpty }
        #expect(gone.ok, "- cancelled the queued job: \(gone.jobs)")
        w = await t.waitUntil(timeout: 10) { s in s.contains { $0.contains(" 1 dead") && $0.contains("1 removed") } }
        #expect(w.ok, "its engine is removed\n\(w.screen.joined(separator: "\n"))")
        await t.sendKeys("q")
        w = await t.waitFor("EXIT=", timeout: 30)
        #expect(w.ok && w.screen.contains { $0.contains("EXIT=0") }, "\(w.screen.joined(separator: "\n"))")
        let err = (try? String(contentsOfFile: box.dir.file("stderr"), encoding: .utf8)) ?? ""
        #expect(err.contains("cancelled 1 Slurm job this ppdash submitted: 1_1"), "quit says what it cancelled: \(err)")
        let queue = await cluster.waitForJobs(timeout: 10, states: "pending,running,completing") { $0.isEmpty }
        #expect(queue.ok, "after quit the queue is empty: \(queue.jobs)")
        #expect(box.sessions.isEmpty, "left behind: \(box.sessions)")
    }

    @Test("SIGTERM cancels every job and says so; after SIGKILL the jobs exit on their own and the next run clears the files")
    func signals() async throws {
        let f = try await Fixture()
        defer { f.stop() }
        let (cluster, box) = (f.cluster, f.box)
        let sweep = ["--", "sleep 30; : slurm-sig-test {}", ":::", "1", "2", "3"]
        for (sig, name) in [(SIGTERM, "SIGTERM"), (SIGKILL, "SIGKILL")] {
            let child = try #require(PPDash.start(["run", "-e", "slurm:2"] + remote + sweep, env: box.env(cluster), timeout: 60))
            let running = await cluster.waitForJobs(states: "running") { $0.count == 2 }
            #expect(running.ok, "\(name): \(running.jobs)")
            // The engines are in (their tasks started) before the signal.
            let deadline = now() + 20
            while now() < deadline, processes(matching: ": slurm-sig-test").count < 2 { try await Task.sleep(nanoseconds: 100_000_000) }
            kill(child.pid, sig)
            let r = await child.wait()
            // After SIGKILL a worker that had not connected yet keeps trying for its --connect-timeout (30 s), then
            // exits: its job leaves the queue by then.
            let queue = await cluster.waitForJobs(timeout: sig == SIGKILL ? 45 : 15, states: "pending,running,completing") { $0.isEmpty }
            #expect(queue.ok, "\(name): jobs left in the queue: \(queue.jobs)")
            if sig == SIGTERM {
                #expect(r.err.contains("cancelled 2 Slurm jobs this ppdash submitted"), "\(r)")
                #expect(box.sessions.isEmpty, "left behind: \(box.sessions)")
            } else {
                #expect(box.sessions.count == 1, "a killed ppdash cannot clean up: \(box.sessions)")
            }
        }
        #expect(await waitForNoProcesses(matching: ": slurm-sig-test", timeout: 10).isEmpty, "no task left running")
        let next = await PPDash.run(["run", "-e", "slurm:1"] + remote + ["--", "echo {}", ":::", "ok"], env: box.env(cluster), timeout: 60)
        #expect(next.exitCode == 0 && next.out == "ok\n", "\(next)")
        #expect(box.sessions.isEmpty, "the killed run's directory is gone: \(box.sessions)")
    }
}
