import ArgumentParser
import Foundation
import PPKit
import PPSource
import PPSystem

/// Engine options shared by every command that runs tasks.
struct EngineOptions: ParsableArguments {
    @Option(name: .customShort("n"), parsing: .unconditional, help: "Local engines (default: one per core); the same as -e local:N.")
    var n: Int?

    @Option(
        name: [.customShort("j"), .customShort("P"), .customLong("jobs")], parsing: .unconditional,
        help: ArgumentHelp(
            "As -n, or GNU parallel's N% of the cores, +N or -N cores, 0 for \(GNUJobs.asMany); per host with -S.",
            valueName: "N"))
    var jobs: JobsOption?

    @Option(
        name: [.customShort("S"), .customLong("sshlogin")],
        help: ArgumentHelp(
            "GNU parallel's hosts: [N/][user@]host[:port] or : for this host; comma-separated or repeated (ssh engines).",
            valueName: "LOGIN"))
    var sshlogin: [String] = []

    @Option(name: [.customLong("sshloginfile"), .customLong("slf")], help: ArgumentHelp("A file of --sshlogin entries, one a line.", valueName: "FILE"))
    var sshloginfile: [String] = []

    @Option(
        name: [.customShort("e"), .customLong("engines")], parsing: .unconditionalSingleValue,
        help: ArgumentHelp(
            "Engines: N or local:N (threads here), proc:N (worker processes), ssh:N/[user@]host[:port], listen[:PORT], slurm:N (Slurm jobs).",
            discussion: "Comma-separated or repeated. The dashboard's + adds one of the first spec's kind. slurm:N submits one sbatch job array of N engines (sbatch options: --slurm-opts).",
            valueName: "SPEC[,SPEC...]"),
        transform: { try EngineSpecList(parsing: $0) })
    var engines: [EngineSpecList] = []

    @Option(help: "Scheduling scheme of the load-balanced view.")
    var scheme: Scheme = .leastLoad

    @Option(help: ArgumentHelp("The ssh command for ssh engines (default: $PPDASH_SSH, else ssh).", valueName: "COMMAND"))
    var ssh: String?

    @Option(name: .customLong("remote-ppdash"), help: ArgumentHelp("ppdash on ssh hosts and Slurm nodes: a name on their PATH or a path.", valueName: "PATH"))
    var remotePPDash = "ppdash"

    @Option(help: ArgumentHelp("The address a listen spec binds (127.0.0.1 unless you say otherwise); for slurm specs, an address the compute nodes reach (default: this host's name as it resolves).", valueName: "ADDRESS"))
    var bind: String?

    @Option(
        name: .customLong("slurm-opts"), parsing: .unconditional,
        help: ArgumentHelp(
            "sbatch options for every slurm engine job, as one shell-quoted string, e.g. '--time=1:00:00 --partition=debug --account=x'.",
            valueName: "OPTIONS"))
    var slurmOpts: String?

    @Option(name: .customLong("token-file"), help: ArgumentHelp("The listen token (created 0600 if missing; default ~/.ppdash/engine-token).", valueName: "FILE"))
    var tokenFile: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds between heartbeats with worker processes; 5 missed and the engine is dead.", valueName: "SECONDS"))
    var heartbeat = Seconds(1)

    @Option(name: .customLong("hello-timeout"), parsing: .unconditional, help: ArgumentHelp("Seconds a worker (proc, ssh) has to say hello before its engine is dead; the batch starts on the engines that are up.", valueName: "SECONDS"))
    var helloTimeout = Seconds(30)

    func validate() throws {
        if let n { try checkCount("-n", n, 1...EngineSpec.maxCount) }
        if n != nil && jobs != nil { throw ValidationError("give -n or -j, not both") }
        if jobs != nil { try checkCount("-j", engineCount, 1...EngineSpec.maxCount) }
        if (n != nil || jobs != nil) && !engines.isEmpty { throw ValidationError("give -n or -e, not both (-n N is -e local:N)") }
        if !(sshlogin.isEmpty && sshloginfile.isEmpty) {
            if !engines.isEmpty { throw ValidationError("give -S/--sshlogin or -e, not both (-S host is -e ssh:host)") }
            _ = try sshSpecs()
        }
        if engines.flatMap(\.specs).filter({ $0.kind == .connected }).count > 1 {
            throw ValidationError("more than one listen spec: one listener takes any number of engines")
        }
        do throws(PPError) { _ = try sshCommand() } catch { throw ValidationError(error.message) }
        try heartbeat.check("--heartbeat", 0.01...3600, "from 0.01 to 3600")
        try helloTimeout.check("--hello-timeout", 0.1...3600, "from 0.1 to 3600")
        if slurmOpts != nil && !specs.contains(where: { $0.kind == .slurm }) {
            throw ValidationError("--slurm-opts is for slurm engines: add -e slurm:N")
        }
        if let slurmOpts {
            do throws(PPError) {
                for w in try splitCommandWords(slurmOpts) {
                    if !w.hasPrefix("-") {
                        throw PPError(.invalidArgument, "--slurm-opts '\(slurmOpts)': '\(w)' is not an sbatch option (each starts with -, e.g. --time=10:00)")
                    }
                    if let why = SlurmOptions.reserved(w) {
                        throw PPError(.invalidArgument, "--slurm-opts: \(w) is not allowed: \(why)")
                    }
                }
            } catch { throw ValidationError(error.message) }
        }
        if let tokenFile, ByteText.hasEscapes(tokenFile) {  // made through Foundation: never under another name
            throw ValidationError("--token-file \(ByteText.lossy(tokenFile)): the token's path must be UTF-8")
        }
    }

    var engineCount: Int {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        return n ?? jobs?.count(cores: cores) ?? cores
    }

    /// `-S`/`--sshloginfile` as engine specs (nil when neither is given).
    func sshSpecs() throws -> [EngineSpecList]? {
        let entries = try SSHLogins.entries(logins: sshlogin, files: sshloginfile)
        guard !entries.isEmpty else { return sshlogin.isEmpty && sshloginfile.isEmpty ? nil : [] }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        do {
            return try entries.map { e throws in
                try EngineSpecList(parsing: try SSHLogins.spec(e, jobs: n ?? jobs.map { $0.count(cores: cores) }, cores: cores))
            }
        } catch let error as SweepError {
            throw ValidationError(error.message)
        } catch let error as PPError {
            throw ValidationError(error.message)
        }
    }

    /// `-e`, else `-S`'s hosts.
    private var givenSpecs: [EngineSpecList] { engines.isEmpty ? ((try? sshSpecs()) ?? nil) ?? [] : engines }

    /// The engine specs: `-e` (or `-S`), else `-n N` as `local:N`.
    var specs: [EngineSpec] { givenSpecs.isEmpty ? [.local(count: engineCount)] : givenSpecs.flatMap(\.specs) }

    /// The engine specs as given, for the journal's header.
    var specTexts: [String] { givenSpecs.isEmpty ? ["local:\(engineCount)"] : givenSpecs.map(\.text) }

    /// `--ssh`, else `$PPDASH_SSH`, else `ssh`, split into words.
    func sshCommand() throws(PPError) -> [String] {
        let text = ssh ?? ProcessInfo.processInfo.environment["PPDASH_SSH"].flatMap { $0.isEmpty ? nil : $0 } ?? "ssh"
        let words = try splitCommandWords(text)
        guard !words.isEmpty else { throw PPError(.invalidArgument, "--ssh is empty: give a command such as 'ssh -F my_config'") }
        return words
    }

    /// Starts the engines and returns a client on them; prints the connect line of a listen spec.
    /// A listen spec that cannot listen is the user's configuration: one line and exit status 2. An engine that
    /// cannot start is one dead engine, told in one line; only when no engine at all can run, exit status 1.
    func startEngines() throws -> Client {
        var options = EngineLaunchOptions()
        options.sshCommand = try sshCommand()
        options.remotePPDash = remotePPDash
        options.bind = bind ?? "127.0.0.1"
        options.slurm.bind = bind
        options.slurm.remotePPDash = remotePPDash
        options.slurm.sbatchOptions = try slurmOpts.map { try splitCommandWords($0) } ?? []
        options.tokenPath = tokenFile
        options.remote.heartbeat = heartbeat.value
        options.remote.helloTimeout = helloTimeout.value
        options.remote.log = { engineLog.write($0) }
        let scheduler = Scheduler(scheme: scheme)
        let launcher: EngineLauncher
        do {
            launcher = try EngineLauncher(specs: specs, scheduler: scheduler, options: options)
        } catch {
            throw ValidationError(error.message)
        }
        if launcher.slurm != nil {
            // Whatever way this process ends (a finished run, q, SIGTERM), its Slurm jobs are cancelled first.
            atexit { SlurmPool.closeAll() }
            for spec in specs where spec.kind == .slurm {
                note("ppdash: submitted \(spec) as Slurm jobs; they connect back to \(launcher.slurm!.connectAddress)")
            }
        }
        let others = launcher.hasEngines ? "; the other engines run the batch" : ""
        for f in launcher.failures { engineLog.write("ppdash: engine \(f.engine) (\(f.spec)) is dead: \(f.reason)\(others)") }
        for s in launcher.starting {
            engineLog.write(
                "ppdash: \(s.what) is still starting (no hello yet; it joins when it says hello, or is dead after \(String(format: "%g", helloTimeout.value)) s): the other engines start the batch")
        }
        guard launcher.hasEngines else {
            scheduler.shutdown()
            note("ppdash: no engine could start (\(launcher.failures.count) tried): nothing ran")
            throw ExitCode(1)
        }
        if let l = launcher.listener {
            note("ppdash: listening for engines on \(l.host):\(l.port); start each with:\n  \(l.connectCommand())")
        }
        let client = launcher.makeClient()
        client.scheduler.addObserver { [weak scheduler] event in
            guard case .engineDied(let id, let reason) = event, reason != "removed", let scheduler else { return }
            let host = scheduler.snapshot(TableQuery(limit: 0, batchLimit: 0)).engines.first { $0.id == id }?.info.host
            engineLog.write("ppdash: engine \(id) (\(host ?? "?")) died: \(reason)")
        }
        return client
    }
}
