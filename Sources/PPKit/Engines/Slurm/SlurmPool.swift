import Dispatch
import Foundation
import Glibc
import PPSystem
import Synchronization

/// How `-e slurm:N` starts and watches its engines.
public struct SlurmOptions: Sendable {
    /// sbatch options given to every engine job, e.g. `["--time=1:00:00", "--partition=debug"]`.
    public var sbatchOptions: [String] = []
    /// The address the listener binds; nil: this host's name as it resolves here (the jobs dial that name).
    public var bind: String?
    /// `ppdash` on the compute nodes: a name on their PATH, or a path.
    public var remotePPDash = "ppdash"
    /// Seconds between two `squeue` calls (one call covers every job).
    public var pollInterval: Double = 2
    /// Seconds a Slurm command may take before it is an error.
    public var commandTimeout: Double = 30
    /// Where the session's private directory goes (nil: `~/.ppdash/slurm`); it must be visible on the nodes.
    public var directory: String?
    /// Seconds an engine keeps retrying its refused connection (`ppdash engine --connect-timeout`).
    public var connectTimeout: Double = 30

    public init() {}

    /// Why an sbatch option may not be given for engine jobs (nil: it may). ppdash sets these itself: the array
    /// (one task per engine), the output file (where an engine that cannot start says why) and no requeue (a
    /// requeued job would run again with a token already used: a job that Slurm stops ends its engine, with the
    /// reason, and `+` submits another).
    public static func reserved(_ word: String) -> String? {
        let name = word.split(separator: "=", maxSplits: 1).first.map(String.init) ?? word
        switch name {
        case "--array", "--output", "--error", "--wrap", "--parsable", "--requeue", "--no-requeue":
            break
        default:
            guard !word.hasPrefix("--"), ["-a", "-o", "-e"].contains(where: { word.hasPrefix($0) }) else { return nil }
        }
        return "ppdash sets the job array, the output files and --no-requeue of its engine jobs itself"
    }
}

/// The Slurm jobs of one ppdash: a listener their workers connect to, a private directory (the job script and one
/// 0600 token file per job: no secret is ever on a command line, in the job's environment or in Slurm's records),
/// one `squeue` call for all jobs every `pollInterval`, and one `scancel` for all of them at the end.
public final class SlurmPool: Sendable {
    let options: SlurmOptions
    let remote: RemoteEngineOptions
    /// The session's directory (0700): `engine.sh`, `token.G-I` (0600), `job.G-I.out`.
    public let directory: String
    let keyring: EngineKeyring
    let listener: EngineListener
    /// What the jobs dial: `host:port`.
    public let connectAddress: String
    private let registry: Registry
    private let poller = DispatchSemaphore(value: 0)
    private let state = Mutex(State())

    private struct State {
        var submissions = 0
        var closed = false
        var squeueCalls = 0
        var squeueFailure: String?
    }

    /// The engines by keyring tag, where the listener finds the one a worker proved.
    final class Registry: Sendable {
        let engines = Mutex<[String: SlurmEngine]>([:])
        var all: [SlurmEngine] { engines.withLock { Array($0.values) }.sorted { $0.tag < $1.tag } }
    }

    /// Opens the listener and the session directory; submits nothing yet.
    public init(scheduler: Scheduler, options: SlurmOptions, remote: RemoteEngineOptions) throws(PPError) {
        self.options = options
        self.remote = remote
        let (bindAddress, dialHost) = try Self.addresses(options.bind)
        let base: String
        if let d = options.directory {
            base = d
        } else {
            base = EngineToken.directory(of: try EngineToken.defaultPath()) + "/slurm"
        }
        directory = try Self.makeSessionDirectory(in: base)
        let registry = Registry()
        let keyring = EngineKeyring()
        let log = remote.log
        do throws(PPError) {
            listener = try EngineListener(
                scheduler: scheduler, bind: bindAddress, port: 0, token: nil, tokenPath: directory, options: remote,
                keyring: keyring,
                admit: { engine in
                    guard let tag = engine.keyTag, let slurm = registry.engines.withLock({ $0[tag] }) else {
                        log("ppdash: an engine proved a Slurm token that no job holds: refused")
                        return engine.shutdown(graceful: false)
                    }
                    slurm.attach(engine)
                })
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        self.registry = registry
        self.keyring = keyring
        let host = dialHost.contains(":") ? "[\(dialHost)]" : dialHost
        connectAddress = "\(host):\(listener.port)"
        do throws(PPError) {
            try writeScript()
        } catch {
            listener.close()
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        Self.opened.withLock { $0.append(self) }
        let thread = Thread { [weak self] in self?.pollLoop() }
        thread.name = "ppdash slurm poll"
        thread.start()
    }

    /// The bind address and the host the jobs dial: `--bind` as given (a wildcard dials this host's name), else
    /// this host's name, bound at the address it resolves to here.
    static func addresses(_ bind: String?) throws(PPError) -> (bind: String, dial: String) {
        if let b = bind { return (b, b == "0.0.0.0" || b == "::" ? hostName() : b) }
        let name = hostName()
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0, let first = list else {
            throw PPError(
                .invalidArgument,
                "this host's name '\(name)' does not resolve: give --bind ADDRESS, an address the compute nodes reach")
        }
        defer { freeaddrinfo(list) }
        var buf = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(first.pointee.ai_addr, first.pointee.ai_addrlen, &buf, socklen_t(buf.count), nil, 0, NI_NUMERICHOST) == 0
        else {
            throw PPError(.invalidArgument, "cannot read the address of '\(name)': give --bind ADDRESS")
        }
        return (String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), name)
    }

    /// A fresh 0700 directory under `base` (made 0700 if new; refused if others may write it).
    static func makeSessionDirectory(in base: String) throws(PPError) -> String {
        do {
            try FileManager.default.createDirectory(
                atPath: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw PPError(.invalidArgument, "cannot create \(base) for the Slurm jobs' files: \(Messages.text(of: error))")
        }
        try EngineToken.checkDirectory(of: base + "/x")
        removeStale(in: base)
        let path = "\(base)/\(hostName())-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        guard mkdir(path, 0o700) == 0 else {
            throw PPError(.invalidArgument, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        return path
    }

    /// Removes the directories of this host's earlier ppdash processes that are gone (killed before they could
    /// clean up: their jobs ended by themselves, their files stayed).
    static func removeStale(in base: String) {
        let prefix = hostName() + "-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] where name.hasPrefix(prefix) {
            let parts = name.dropFirst(prefix.count).split(separator: "-")
            guard parts.count == 2, let pid = pid_t(parts[0]), pid > 1, kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(atPath: "\(base)/\(name)")
        }
    }

    /// The job script (0700): it names its token file by submission and array index, and holds no secret.
    private func writeScript() throws(PPError) {
        let dir = Template.quote(directory)
        let text = """
            #!/bin/sh
            # A ppdash engine as a Slurm job. Its token is in a 0600 file of its own, never on a command line.
            exec \(Template.quote(options.remotePPDash)) engine --connect \(connectAddress) \
            --connect-timeout \(formatSeconds(options.connectTimeout)) \
            --token-file \(dir)/token."$1"-"${SLURM_ARRAY_TASK_ID:-0}"

            """
        try writePrivate(directory + "/engine.sh", text, mode: 0o700)
    }

    private func writePrivate(_ path: String, _ text: String, mode: mode_t) throws(PPError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw PPError(.invalidArgument, "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        fchmod(fd, mode)
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw PPError(.invalidArgument, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// `squeue` calls so far.
    public var squeueCalls: Int { state.withLock { $0.squeueCalls } }

    // MARK: submitting

    /// Submits `count` engine jobs as one job array (one `sbatch` call) and returns their engines, queued.
    func submit(count: Int) throws(PPError) -> [SlurmEngine] {
        let g = try state.withLock { s throws(PPError) -> Int in
            guard !s.closed else { throw PPError(.invalidState, "the Slurm engines are shut down") }
            s.submissions += 1
            return s.submissions
        }
        var tags: [String] = []
        func discard() {
            for t in tags {
                keyring.remove(tag: t)
                unlink("\(directory)/token.\(t)")
            }
        }
        for i in 0..<count {
            let tag = "\(g)-\(i)"
            let token = EngineToken.random()
            do throws(PPError) {
                try writePrivate("\(directory)/token.\(tag)", String(decoding: token.secret, as: UTF8.self) + "\n", mode: 0o600)
            } catch {
                discard()
                throw error
            }
            keyring.add(token, tag: tag)
            tags.append(tag)
        }
        let argv =
            ["sbatch", "--parsable", "--job-name=ppdash-engine", "--array=0-\(count - 1)", "--no-requeue",
             "--output=\(directory)/job.\(g)-%a.out"]
            + options.sbatchOptions + ["\(directory)/engine.sh", String(g)]
        let out: SlurmCommand.Output
        do throws(PPError) {
            out = try SlurmCommand.run(argv, directory: directory, timeout: options.commandTimeout)
        } catch {
            discard()
            throw error
        }
        let idText = out.stdout.split(whereSeparator: \.isNewline).last.map { $0.split(separator: ";")[0] }.map(String.init)
        guard out.ok, let jobID = idText, Int(jobID) != nil else {
            discard()
            let why = out.firstLine.isEmpty ? "exit status \(out.status?.exitCode ?? -1)" : out.firstLine
            throw PPError(.invalidArgument, "sbatch refused the engine jobs: \(why)")
        }
        let engines = (0..<count).map { i in
            SlurmEngine(pool: self, tag: "\(g)-\(i)", jobID: "\(jobID)_\(i)", highWaterMark: remote.highWaterMark)
        }
        registry.engines.withLock { r in for e in engines { r[e.tag] = e } }
        pollSoon()
        return engines
    }

    // MARK: polling

    /// One line of `squeue`.
    struct Polled: Sendable, Hashable {
        var state: String
        var reason: String?
        var node: String?
        var timeLeft: String?
    }

    /// Asks for a poll now (still at most one per `minimumGap`).
    func pollSoon() { poller.signal() }

    /// The least time between two `squeue` calls, however often a poll is asked for.
    var minimumGap: Double { min(1, options.pollInterval) }

    private func pollLoop() {
        while !state.withLock({ $0.closed }) {
            _ = poller.wait(timeout: .now() + .nanoseconds(Int(options.pollInterval * 1e9)))
            if state.withLock({ $0.closed }) { return }
            pollOnce()
        }
    }

    /// When the last `squeue` started. Held across a poll: one poll at a time, however many threads ask.
    private let pollGate = Mutex<Double>(-Double.infinity)

    /// One `squeue` for every live job, at least `minimumGap` after the one before (it waits for that), one at a
    /// time; each engine hears its job's line (or that it is gone).
    func pollOnce(timeout: Double? = nil) {
        pollGate.withLock { last in
            let gap = SystemTime.monotonicSeconds() - last
            if gap < minimumGap { usleep(useconds_t((minimumGap - gap) * 1e6)) }
            last = SystemTime.monotonicSeconds()
            poll(timeout: timeout)
        }
    }

    private func poll(timeout: Double?) {
        let live = registry.all.filter(\.isLive)
        guard !live.isEmpty else { return }
        let arrays = Array(Set(live.map { String($0.jobID.split(separator: "_")[0]) })).sorted()
        let argv = ["squeue", "--noheader", "--array", "--states=all", "--jobs=" + arrays.joined(separator: ","),
                    "--format=%i|%T|%r|%N|%L"]
        state.withLock { $0.squeueCalls += 1 }
        let out: SlurmCommand.Output
        do throws(PPError) {
            out = try SlurmCommand.run(argv, directory: directory, timeout: timeout ?? options.commandTimeout)
        } catch {
            return noteFailure(error.message)
        }
        var lines: [String: Polled] = [:]
        if out.ok {
            for line in out.stdout.split(whereSeparator: \.isNewline) {
                let f = line.split(separator: "|", omittingEmptySubsequences: false).map {
                    String($0).trimmingCharacters(in: .whitespaces)
                }
                guard f.count >= 5 else { continue }
                lines[f[0]] = Polled(
                    state: f[1], reason: f[2].isEmpty || f[2] == "None" ? nil : f[2], node: f[3].isEmpty ? nil : f[3],
                    timeLeft: f[4].isEmpty ? nil : f[4])
            }
        } else if !out.stderr.contains("Invalid job id") {
            return noteFailure("squeue failed: \(out.firstLine)")
        }
        state.withLock { $0.squeueFailure = nil }
        for e in live {
            let tag = e.tag
            e.update(lines[e.jobID], outputTail: self.outputTail(tag))
        }
    }

    /// Tells a failing `squeue` once (not every poll).
    private func noteFailure(_ why: String) {
        let first = state.withLock { s -> Bool in
            defer { s.squeueFailure = why }
            return s.squeueFailure != why
        }
        if first { remote.log("ppdash: cannot read the Slurm queue: \(why)") }
    }

    /// The job's last line of output (an engine that could not start says why there).
    func outputTail(_ tag: String) -> String? {
        guard let text = try? String(contentsOfFile: "\(directory)/job.\(tag).out", encoding: .utf8) else { return nil }
        return text.split(whereSeparator: \.isNewline).last.map { String($0.prefix(200)) }
    }

    /// Job states after which a job runs no more.
    static func isFinal(_ state: String) -> Bool {
        !["PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING",
          "STAGE_OUT", "STOPPED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SPECIAL_EXIT"].contains(state)
    }

    /// The reason an engine dies with when its job ended.
    static func describeEnd(job: String, polled: Polled?, connectedBefore: Bool, outputTail: String?) -> String {
        guard let p = polled else { return "Slurm job \(job) left the queue" }
        var why: String
        switch p.state {
        case "CANCELLED": why = "Slurm job \(job) was cancelled (scancel)"
        case "TIMEOUT": why = "Slurm job \(job) reached its time limit"
        case "NODE_FAIL": why = "Slurm job \(job) ended: its node failed"
        case "PREEMPTED": why = "Slurm job \(job) was preempted"
        case "BOOT_FAIL": why = "Slurm job \(job) ended: its node did not boot"
        case "OUT_OF_MEMORY": why = "Slurm job \(job) ran out of memory"
        case "DEADLINE": why = "Slurm job \(job) passed its deadline"
        default: why = "Slurm job \(job) ended (\(p.state))"
        }
        if let r = p.reason, r != p.state { why += " [\(r)]" }
        if !connectedBefore {
            why += " before its engine connected"
            if let t = outputTail, !t.isEmpty { why += ": \(t)" }
        }
        return why
    }

    // MARK: ending

    /// Seconds the last poll (at close) may take: quitting is not held up by a slow controller.
    static let lastPollTimeout = 5.0

    /// Every pool this process opened, so `closeAll` (run at exit) leaves no job and no file behind.
    private static let opened = Mutex<[SlurmPool]>([])

    /// Closes every pool of this process (see `close`); the CLI runs it at exit.
    public static func closeAll() {
        for pool in opened.withLock({ p in defer { p = [] }; return p }) { pool.close() }
    }

    /// Cancels these engines' jobs (one `scancel`); their engines die as Slurm reports the jobs ended.
    func cancel(_ engines: [SlurmEngine]) {
        let ids = engines.map(\.jobID)
        guard !ids.isEmpty else { return }
        do throws(PPError) {
            let out = try SlurmCommand.run(["scancel"] + ids, directory: directory, timeout: options.commandTimeout)
            if !out.ok { remote.log("ppdash: scancel \(ids.joined(separator: " ")) failed: \(out.firstLine)") }
        } catch {
            remote.log("ppdash: cannot cancel Slurm jobs \(ids.joined(separator: " ")): \(error.message)")
        }
        pollSoon()
    }

    /// Cancels every job this ppdash submitted that is still queued or running (one `scancel`), says so, stops
    /// listening and polling, and removes the session's directory. Later calls do nothing.
    public func close() {
        let first = state.withLock { s -> Bool in
            defer { s.closed = true }
            return !s.closed
        }
        guard first else { return }
        poller.signal()
        // From here on a worker's bye or a job's end is this stop's doing (the cancel below), not news.
        for e in registry.all { e.markStopping() }
        // An engine's death may still wait: its worker left (scancel's SIGTERM makes it say bye) and the queue has
        // not said why yet; or Slurm ended its job (a node failure signals the task first) and nothing here has
        // heard yet. The batch may have ended first. One last poll, before any job is cancelled, names the
        // reasons, and every such engine dies now: no engine's end goes unsaid.
        if registry.all.contains(where: { $0.awaitsReason || $0.isLive }) {
            pollOnce(timeout: min(options.commandTimeout, Self.lastPollTimeout))
        }
        for e in registry.all { e.endNow() }
        let live = registry.all.filter(\.isLive)
        if !live.isEmpty {
            cancel(live)
            let ids = live.map(\.jobID)
            let shown = ids.count > 8 ? ids.prefix(8).joined(separator: " ") + " ..." : ids.joined(separator: " ")
            remote.log("ppdash: cancelled \(ids.count) Slurm job\(ids.count == 1 ? "" : "s") this ppdash submitted: \(shown)")
        }
        listener.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
