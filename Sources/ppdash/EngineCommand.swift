import ArgumentParser
import Foundation
import PPKit
import PPSource
import PPSystem

/// `ppdash engine`: a worker that runs tasks for a scheduler, over stdin/stdout or a connection it dials.
struct EngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Run tasks for a ppdash scheduler (a worker: -e proc:N and ssh engines start it themselves).",
        discussion: """
            Examples:
              ppdash engine --connect node1:7000 --token-file ~/.ppdash/engine-token
            With --stdio it speaks the wire protocol on stdin/stdout. It runs one task at a time; when its input
            ends it stops its running task's process group and exits.
            """)

    @Flag(help: "Speak the protocol on stdin/stdout (how proc and ssh engines run it).")
    var stdio = false

    /// A fork server for proc workers (`WorkerForkServers`): on descriptor 3 it takes requests, and each child it
    /// forks goes on as `--stdio` on the descriptors that came with its request.
    @Flag(name: .customLong("fork-server"), help: .hidden)
    var forkServer = false

    @Option(help: ArgumentHelp("Dial a scheduler's listen spec.", valueName: "HOST:PORT"))
    var connect: String?

    @Option(
        name: .customLong("token-file"),
        help: ArgumentHelp("The listener's token (default ~/.ppdash/engine-token).", valueName: "FILE"))
    var tokenFile: String?

    @Option(
        help: ArgumentHelp(
            "Run every task in this directory (default: the submitting directory where it exists here, else the current one).",
            valueName: "DIR"))
    var workdir: String?

    @Option(
        name: .customLong("connect-timeout"), parsing: .unconditional,
        help: ArgumentHelp("Seconds to keep retrying a refused connection.", valueName: "SECONDS"))
    var connectTimeout = Seconds(30)

    /// The longest `--connect-timeout`: a day.
    static let maxConnectTimeout: Double = 86_400

    func validate() throws {
        if (stdio || forkServer) == (connect != nil) {
            throw ValidationError("give exactly one of --stdio and --connect HOST:PORT")
        }
        if let connect, Self.address(connect) == nil {
            throw ValidationError(
                "bad address '\(connect)' for --connect: use HOST:PORT, e.g. node1:7000 or [::1]:7000")
        }
        if let workdir {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: workdir, isDirectory: &isDir), isDir.boolValue else {
                throw ValidationError("--workdir \(workdir) is not a directory")
            }
        }
        try connectTimeout.check("--connect-timeout", 0...EngineCommand.maxConnectTimeout, "from 0 to \(Int(EngineCommand.maxConnectTimeout))")
    }

    /// Whether `fd` is a pipe or a socket (what the wire protocol's event loop can poll).
    static func isPipeOrSocket(_ fd: Int32) -> Bool {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return false }
        let kind = st.st_mode & S_IFMT
        return kind == S_IFIFO || kind == S_IFSOCK
    }

    /// `host:port` or `[v6]:port`.
    static func address(_ s: String) -> (String, Int)? {
        guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (1...65535).contains(port)
        else {
            return nil
        }
        var host = String(s[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    func run() throws {
        // The server returns here only in each child it forks, which is then a worker like `--stdio`'s. Before
        // anything below: the server must have one thread when it forks.
        if forkServer {
            // Only ppdash starts it, with a SOCK_SEQPACKET socket on descriptor 3: by hand it would wait forever.
            var type: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &length) == 0, type == Int32(SOCK_SEQPACKET.rawValue) else {
                throw ValidationError(
                    "engine --fork-server is started by ppdash itself for proc engines (its requests come on descriptor 3)")
            }
            // Each child shows as what it is: `ppdash engine --stdio`.
            let shown = [CommandLine.arguments.first ?? "ppdash", "engine", "--stdio"]
            // A worker's start played once here, so each forked worker inherits the runtime's filled caches.
            EngineWorker.rehearseStart()
            if let code = ForkServer.serve(socket: 3, childArguments: shown) { throw ExitCode(code) }
        }
        var options = EngineWorkerOptions()
        options.workingDirectory = workdir
        options.connectTimeout = connectTimeout.value
        options.log = { note($0) }
        options.stopSignals = try? SignalCatcher(catching: [SIGTERM, SIGINT, SIGHUP])
        if stdio || forkServer {
            if isatty(1) == 1 {
                throw ValidationError(
                    "engine --stdio speaks the wire protocol on stdin/stdout, not to a terminal: ppdash -e proc:N or an ssh engine starts it"
                )
            }
            // A file or /dev/null cannot be polled: the event loop would trap on it. Refuse in one line instead.
            for (fd, name) in [(Int32(0), "stdin"), (Int32(1), "stdout")] where !Self.isPipeOrSocket(fd) {
                throw ValidationError(
                    "engine --stdio needs a pipe or socket on \(name) (it speaks the wire protocol there): ppdash -e proc:N or an ssh engine starts it")
            }
            throw ExitCode(EngineWorker.serveStdio(options: options))
        }
        let (host, port) = Self.address(connect!)!
        let token: EngineToken
        do throws(PPError) {
            let path: String
            if let tokenFile { path = tokenFile } else { path = try EngineToken.defaultPath() }
            token = try EngineToken.read(path: path)
        } catch {
            throw ValidationError(error.message)
        }
        throw ExitCode(EngineWorker.serveConnected(host: host, port: port, token: token, options: options))
    }
}
