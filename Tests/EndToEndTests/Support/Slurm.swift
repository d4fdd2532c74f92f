// A private one-node Slurm per test: its own munged (own socket and key), slurmctld and slurmd on free ports, all
// under a temporary directory that SLURM_CONF points into. Nothing machine-wide is touched or shared.
// The recipe: shared/notes/slurm-one-node.md.
import Foundation
import Glibc
import PPSystem

final class SlurmCluster: Sendable {
    /// The daemons and client commands this harness needs, found on PATH or in the sbin directories.
    static let programs = ["munged", "munge", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo"]

    static func locate(_ name: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/sbin:/usr/local/sbin"
        for dir in path.split(separator: ":") where access("\(dir)/\(name)", X_OK) == 0 { return "\(dir)/\(name)" }
        return nil
    }

    /// Every program is installed (the tests skip, saying so, when not and CI is not set).
    static let installed = programs.allSatisfy { locate($0) != nil }
    /// Whether the Slurm tests run: installed, or in CI (where a missing package is a failure, not a skip).
    static let enabled = installed || ProcessInfo.processInfo.environment["CI"] != nil
    static let missing = "Slurm is not installed (apt-get install slurmctld slurmd slurm-client munge): Slurm tests skipped"

    let dir: String
    let conf: String
    let node: String

    private init(dir: String, conf: String, node: String) {
        self.dir = dir
        self.conf = conf
        self.node = node
    }

    /// What a Slurm client command (and a ppdash that runs one) needs in its environment.
    var env: [String: String?] { ["SLURM_CONF": conf] }

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Starts munged, slurmctld and slurmd and waits (bounded) until the node is idle. `cpus`: how many one-CPU
    /// jobs run at once. Jobs go to partition `debug`; a job in partition `urgent` preempts (cancels) them when
    /// it needs their CPUs.
    static func start(cpus: Int = 8) async throws -> SlurmCluster {
        for p in programs where locate(p) == nil { throw Failure(description: "\(p) not found: \(missing)") }
        let dir = NSTemporaryDirectory() + "ppdash-slurm-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        for sub in ["", "/run", "/log", "/state", "/spool", "/etc", "/lib"] {
            guard mkdir(dir + sub, 0o755) == 0 else { throw Failure(description: "mkdir \(dir + sub): \(errno)") }
        }
        chmod(dir + "/etc", 0o700)
        var key = [UInt8](repeating: 0, count: 1024)
        var rng = SystemRandomNumberGenerator()
        for i in key.indices { key[i] = UInt8.random(in: 0...255, using: &rng) }
        _ = FileManager.default.createFile(atPath: dir + "/etc/munge.key", contents: Data(key), attributes: [.posixPermissions: 0o600])
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, 255)
        let node = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).split(separator: ".").first.map(String.init) ?? "localhost"
        let user = String(cString: getpwuid(geteuid()).pointee.pw_name)
        let (ctld, slurmd) = (freePort(), freePort())
        let conf = dir + "/etc/slurm.conf"
        let text = """
            ClusterName=ppdash\(getpid() % 100000)
            SlurmctldHost=\(node)
            SlurmctldPort=\(ctld)
            SlurmdPort=\(slurmd)
            SlurmUser=\(user)
            SlurmdUser=\(user)
            AuthType=auth/munge
            AuthInfo=socket=\(dir)/run/munge.sock
            CredType=cred/munge
            StateSaveLocation=\(dir)/state
            SlurmdSpoolDir=\(dir)/spool
            SlurmctldPidFile=\(dir)/run/slurmctld.pid
            SlurmdPidFile=\(dir)/run/slurmd.pid
            SlurmctldLogFile=\(dir)/log/slurmctld.log
            SlurmdLogFile=\(dir)/log/slurmd.log
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_Core
            ReturnToService=2
            MpiDefault=none
            JobAcctGatherType=jobacct_gather/none
            SlurmdParameters=config_overrides
            MinJobAge=300
            PreemptType=preempt/partition_prio
            PreemptMode=CANCEL
            NodeName=\(node) CPUs=\(cpus) RealMemory=20000 State=UNKNOWN
            PartitionName=debug Nodes=\(node) Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO PriorityTier=1
            PartitionName=urgent Nodes=\(node) MaxTime=INFINITE State=UP OverSubscribe=NO PriorityTier=2

            """
        try text.write(toFile: conf, atomically: true, encoding: .utf8)
        let cluster = SlurmCluster(dir: dir, conf: conf, node: node)
        let env = cluster.env
        let munged = await run(
            [locate("munged")!, "--force", "--socket=\(dir)/run/munge.sock", "--key-file=\(dir)/etc/munge.key",
             "--log-file=\(dir)/log/munged.log", "--pid-file=\(dir)/run/munged.pid", "--seed-file=\(dir)/lib/seed"],
            timeout: 10)
        guard munged.exitCode == 0 else {
            cluster.stop()
            throw Failure(description: "munged did not start: \(munged)")
        }
        for daemon in [["slurmctld", "-i"], ["slurmd"]] {
            let r = await run([locate(daemon[0])!] + daemon.dropFirst(), env: env, timeout: 20)
            guard r.exitCode == 0 else {
                let log = cluster.log(daemon[0])
                cluster.stop()
                throw Failure(description: "\(daemon[0]) did not start: \(r)\n\(log)")
            }
        }
        let deadline = now() + 20
        while now() < deadline {
            let s = await run(["sinfo", "-h", "-o", "%T"], env: env, timeout: 10)
            if s.out.contains("idle") { return cluster }
            if s.out.contains("down") || s.out.contains("drain") {
                _ = await run(["scontrol", "update", "nodename=\(node)", "state=resume"], env: env, timeout: 10)
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let why = cluster.log("slurmctld") + "\n" + cluster.log("slurmd")
        cluster.stop()
        throw Failure(description: "the test Slurm's node never became idle within 20 s:\n\(why)")
    }

    /// The tail of a daemon's log, for failure messages.
    func log(_ daemon: String) -> String {
        let text = (try? String(contentsOfFile: "\(dir)/log/\(daemon).log", encoding: .utf8)) ?? "(no log)"
        return "--- \(daemon).log ---\n" + clip(text, 2000)
    }

    /// A Slurm client command against this cluster.
    func command(_ argv: [String], timeout: Double = 20) async -> RunResult {
        await run(argv, env: env, timeout: timeout)
    }

    /// Every job in the queue (all states still kept): `id state reason node` per line.
    func jobs(states: String = "all") async -> [String] {
        await command(["squeue", "--noheader", "--array", "--states=\(states)", "--format=%i %T %r %N"]).outLines
    }

    /// Waits (bounded) until `predicate` holds for the queue's lines.
    func waitForJobs(timeout: Double = 20, states: String = "all", _ predicate: ([String]) -> Bool) async -> (ok: Bool, jobs: [String]) {
        let deadline = now() + timeout
        var last: [String] = []
        while now() < deadline {
            last = await jobs(states: states)
            if predicate(last) { return (true, last) }
            try? await Task.sleep(nanoseconds: 200_000_000)
        }
        return (false, last)
    }

    /// Stops slurmd, slurmctld and munged (the pids this cluster wrote), waits for them to go, removes the directory.
    func stop() {
        // Jobs first: a job's processes (slurmstepd, a ppdash engine) must not outlive the cluster.
        if let scancel = Self.locate("scancel") {
            let user = String(cString: getpwuid(geteuid()).pointee.pw_name)
            _ = runBlocking([scancel, "--user=\(user)"], env: env, timeout: 10)
            let deadline = now() + 5
            while now() < deadline,
                !runBlocking(["squeue", "--noheader", "--states=running,completing"], env: env, timeout: 10).out.isEmpty
            {
                usleep(100_000)
            }
        }
        var pids: [pid_t] = []
        for name in ["slurmd", "slurmctld", "munged"] {
            guard let text = try? String(contentsOfFile: "\(dir)/run/\(name).pid", encoding: .utf8),
                let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1
            else { continue }
            kill(pid, SIGTERM)
            pids.append(pid)
        }
        let deadline = now() + 10
        while now() < deadline, pids.contains(where: { kill($0, 0) == 0 }) { usleep(20_000) }
        for pid in pids where kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(atPath: dir)
    }
}
