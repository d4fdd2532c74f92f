// Many proc workers starting at once on a busy machine: none misses its heartbeats while its siblings start, each
// leads its own session, and every task runs once.
import Foundation
import Glibc
import PPSystem
import Testing

/// Busy loops on every core for the test's length (each ends by itself after 60 s, `timeout` holding the group).
private func burnCPU(_ count: Int) -> [ChildProcess] {
    (0..<count).compactMap { _ in
        var plan = SpawnPlan(
            executable: "timeout", arguments: ["timeout", "-s", "KILL", "60", "sh", "-c", "while :; do :; done"],
            descriptors: [], grouping: .newGroup)
        plan.searchPath = true
        return try? plan.spawn()
    }
}

private func stop(_ burners: [ChildProcess]) {
    for b in burners {
        b.sendToGroup(signal: SIGKILL)
        b.wait()
    }
}

@Suite("proc workers starting", .endToEndSlot, .serialized)
struct WorkerStartE2ETests {
    @Test(
        "64 proc workers started under CPU load with --heartbeat 0.3, fork server on and off: none misses its heartbeats, every task runs once",
        arguments: ["1", "0"])
    func manyWorkersUnderLoad(forkServer: String) async throws {
        let burners = burnCPU(2)
        defer { stop(burners) }
        let n = 64
        // Before the fix the first workers welcomed waited for all 64 to start without one heartbeat and stopped
        // after 10 silent intervals (3 s here): "missed 10 heartbeats from the scheduler". An exec per worker
        // (PPDASH_FORK_SERVER=0) is the slow start that showed it; the fork server's start is the fast one.
        let r = await PPDash.run(
            ["run", "-e", "proc:\(n)", "--heartbeat", "0.3", "--no-journal", "--", "echo {} $PPID", ":::"]
                + (1...n).map(String.init), env: ["PPDASH_FORK_SERVER": forkServer], timeout: 180)
        #expect(r.exitCode == 0, "\(r)")
        #expect(!r.err.contains("missed"), "\(r)")
        #expect(!r.err.contains("died"), "\(r)")
        let ids = r.outLines.compactMap { Int($0.split(separator: " ").first ?? "") }
        #expect(ids.sorted() == Array(1...n), "every task once: \(r)")
    }

    @Test("proc workers come from one fork server: each shows as ppdash engine --stdio, leads its own session with its tasks in it; all are gone when ppdash ends")
    func forkedWorkers() async throws {
        // Each task prints: worker pid, worker's session, the task's session, the task's group, the task's pid,
        // the worker's parent, that parent's command line, then the worker's command line.
        let script = """
            w=$PPID; s=$(cut -d' ' -f4 /proc/$w/stat); \
            echo "$w $(cut -d' ' -f6 /proc/$w/stat) $(cut -d' ' -f6 /proc/$$/stat) $(cut -d' ' -f5 /proc/$$/stat) $$ $s|$(tr '\\0' ' ' < /proc/$s/cmdline)|$(tr '\\0' ' ' < /proc/$w/cmdline)"; : {}
            """
        let r = await PPDash.run(
            ["run", "-e", "proc:4", "--no-journal", "--", script, ":::"] + (1...16).map(String.init), timeout: 60)
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.outLines.count == 16, "\(r)")
        var workers = Set<pid_t>()
        var servers = Set<pid_t>()
        for line in r.outLines {
            let parts = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            let f = (parts.first ?? "").split(separator: " ").compactMap { pid_t($0) }
            guard parts.count == 3, f.count == 6 else {
                Issue.record("bad line \(line)")
                continue
            }
            let (worker, workerSession, taskSession, taskGroup, task, server) = (f[0], f[1], f[2], f[3], f[4], f[5])
            workers.insert(worker)
            servers.insert(server)
            #expect(worker == workerSession, "the worker leads its session: \(line)")
            #expect(taskSession == worker, "the task is in its worker's session: \(line)")
            #expect(taskGroup == task, "the task leads its own group: \(line)")
            #expect(parts[1].contains("engine --fork-server"), "forked by the fork server: \(line)")
            #expect(parts[2].hasPrefix("ppdash engine --stdio"), "shown as a worker: \(line)")
        }
        #expect(workers.count >= 1 && workers.count <= 4, "\(workers)")
        #expect(servers.count == 1, "one fork server: \(servers)")
        let end = now() + 10
        let all = Array(workers) + Array(servers)
        while now() < end, all.contains(where: { SystemFacts.processExists($0) && !SystemFacts.isZombie($0) }) {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(all.allSatisfy { !SystemFacts.processExists($0) || SystemFacts.isZombie($0) }, "workers and server gone")
    }

    @Test("PPDASH_FORK_SERVER=0: each worker is ppdash's own child (its own exec), same results")
    func forkServerOff() async throws {
        let r = await PPDash.run(
            [
                "run", "-e", "proc:2", "--no-journal", "--",
                "echo \"{}|$(tr '\\0' ' ' < /proc/$(cut -d' ' -f4 /proc/$PPID/stat)/cmdline)\"", ":::", "1", "2", "3",
            ],
            env: ["PPDASH_FORK_SERVER": "0"], timeout: 60)
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.outLines.map { $0.prefix(1) }.sorted() == ["1", "2", "3"], "\(r)")
        for line in r.outLines {
            #expect(line.contains(" run -e proc:2 --no-journal"), "the worker's parent is ppdash itself: \(line)")
        }
    }

    @Test("engine --fork-server by hand (no socket on descriptor 3): exit 2 and one line, it never waits")
    func forkServerByHand() async {
        let r = await PPDash.run(["engine", "--fork-server"], timeout: 30)
        #expect(r.exitCode == 2, "\(r)")
        #expect(!r.timedOut, "\(r)")
        #expect(r.errLines.count == 1 && r.err.contains("started by ppdash itself"), "\(r)")
    }
}
