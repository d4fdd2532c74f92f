import Foundation

/// How `EngineLauncher` starts engines of each kind.
public struct EngineLaunchOptions: Sendable {
    public var remote = RemoteEngineOptions()
    /// The `ppdash` binary a `proc` worker runs (nil: this very binary, through /proc/self/exe).
    public var workerExecutable: String?
    /// The ssh command and its own options, e.g. `["ssh", "-F", "my_config"]`.
    public var sshCommand = ["ssh"]
    /// `ppdash` on ssh hosts: a name found on the remote PATH, or a path.
    public var remotePPDash = "ppdash"
    /// The address a `listen` spec binds.
    public var bind = "127.0.0.1"
    /// The token file of a `listen` spec (nil: `EngineToken.defaultPath`).
    public var tokenPath: String?

    public init() {}
}

/// Starts the engines that `-e` specs name, and more of the first spec's kind on demand (the dashboard's `+`).
public final class EngineLauncher: Sendable {
    public let options: EngineLaunchOptions
    public let specs: [EngineSpec]
    public let scheduler: Scheduler
    /// The listener, when a spec is `listen`.
    public let listener: EngineListener?

    /// Starts every spec's engines on `scheduler` (workers at once, waiting for their hellos); throws what failed.
    public init(specs: [EngineSpec], scheduler: Scheduler, options: EngineLaunchOptions) throws(PPError) {
        self.specs = specs
        self.scheduler = scheduler
        self.options = options
        var listener: EngineListener?
        do throws(PPError) {
            for spec in specs {
                if case .listen(let port) = spec {
                    let path = options.tokenPath ?? EngineToken.defaultPath
                    let token = try EngineToken.readOrCreate(path: path)
                    listener = try EngineListener(
                        scheduler: scheduler, bind: options.bind, port: port, token: token, tokenPath: path,
                        options: options.remote)
                } else {
                    for engine in try Self.engines(spec, options: options) { scheduler.addEngine(engine) }
                }
            }
        } catch {
            listener?.close()
            scheduler.shutdown()
            throw error
        }
        self.listener = listener
    }

    /// A client whose `addEngine()` adds one engine of the first spec's kind.
    public func makeClient() -> Client {
        Client(scheduler: scheduler) { [self] () throws(PPError) -> any Engine in try self.makeOne() }
    }

    /// One more engine like the first spec's.
    public func makeOne() throws(PPError) -> any Engine {
        switch specs.first ?? .local(count: 1) {
        case .local: return InProcessEngine()
        case .proc: return try Self.engines(.proc(count: 1), options: options)[0]
        case .ssh(_, let login): return try Self.engines(.ssh(count: 1, login: login), options: options)[0]
        case .listen:
            let how = listener.map { "run: " + $0.connectCommand() } ?? "run ppdash engine --connect"
            throw PPError(.noEngine, "engines join a listener by connecting to it: \(how)")
        }
    }

    /// Starts a spec's engines (not `listen`).
    static func engines(_ spec: EngineSpec, options: EngineLaunchOptions) throws(PPError) -> [any Engine] {
        switch spec {
        case .local(let n):
            return (0..<n).map { _ in InProcessEngine() }
        case .proc(let n):
            let exe = options.workerExecutable ?? "/proc/self/exe"
            return try RemoteEngine.launch(
                count: n, path: exe, argv: ["ppdash", "engine", "--stdio"], kind: .proc, label: "", host: hostName(),
                what: "worker process (\(exe) engine --stdio)", options: options.remote)
        case .ssh(let n, let login):
            let argv = sshArguments(login: login, options: options)
            return try RemoteEngine.launch(
                count: n, path: argv[0], argv: argv, kind: .ssh, label: "ssh ", host: login.host,
                what: "ssh engine on \(login)", options: options.remote)
        case .listen:
            return []
        }
    }

    /// `ssh -T -o BatchMode=yes [-p PORT] [user@]host -- ppdash engine --stdio`, with the configured ssh command.
    public static func sshArguments(login: SSHLogin, options: EngineLaunchOptions) -> [String] {
        var argv = options.sshCommand.isEmpty ? ["ssh"] : options.sshCommand
        argv += ["-T", "-o", "BatchMode=yes"]
        if let port = login.port { argv += ["-p", String(port)] }
        argv += [login.destination, "--", Template.quote(options.remotePPDash) + " engine --stdio"]
        return argv
    }
}
