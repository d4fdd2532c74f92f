import PPSystem
import Synchronization

/// The fork servers that start local workers (`ppdash engine --stdio`): one per worker executable, started with the
/// first worker and kept for the process's life. A worker then costs a fork of a process that already paid the
/// exec, the dynamic loader and the runtime's start (22 ms of CPU each, measured), so 256 start in well under a
/// second. Where a server cannot start or stops answering, workers are spawned as before (nothing else changes:
/// each still leads its own session, its exit status is still told).
enum WorkerForkServers {
    /// Set to 0 to spawn every worker with its own exec (for comparison, or should forking misbehave here).
    static let variable = "PPDASH_FORK_SERVER"

    private static let servers = Mutex<[String: ForkServer?]>([:])

    /// The server for `path` when `argv` starts a local worker (`<name> engine --stdio`), started on first use;
    /// nil for anything else (ssh), when disabled, or when it cannot serve.
    static func server(path: String, argv: [String]) -> ForkServer? {
        guard argv.count == 3, argv[1] == "engine", argv[2] == "--stdio", SystemFacts.environment(variable) != "0"
        else { return nil }
        return servers.withLock { servers -> ForkServer? in
            switch servers[path] {
            case .some(.none): return nil  // it never started: not retried (each try costs an exec)
            case .some(.some(let known)) where known.isServing: return known
            default: break  // none yet, or it died: (re)started
            }
            let server = ForkServer.start(
                executable: path, arguments: [argv[0], "engine", "--fork-server"], timeout: startTimeout)
            servers[path] = .some(server)
            return server
        }
    }

    /// Seconds a server has to say it is ready (its one exec, on a busy machine).
    static let startTimeout = 30.0
}
