/// The kind of an engine, shown in the engines pane.
public enum EngineKind: String, Sendable, Codable, CaseIterable {
    /// A dedicated thread in this process.
    case local
    /// A `ppdash engine --stdio` child process on this host.
    case proc
    /// A worker started over ssh on another host.
    case ssh
    /// A worker that connected in to `listen`.
    case connected
    /// An engine of an ipyparallel cluster.
    case ipp
    /// A `ppdash engine --connect` worker started as a Slurm job (`-e slurm:N`).
    case slurm
}

/// The batch-system job an engine runs in, as last seen in the queue (Slurm's `squeue`).
public struct EngineJob: Sendable, Hashable, Codable {
    /// The job's id, e.g. `12_3` (a job array's task).
    public var id: String
    /// Slurm's state: PENDING, RUNNING, COMPLETING, CANCELLED, TIMEOUT, ...
    public var state: String
    /// Why it waits (Priority, Resources, ...) or why it ended; nil when Slurm gives none.
    public var reason: String?
    /// The node it runs on, once it runs.
    public var node: String?
    /// The time left as Slurm prints it (`59:58`, `1-00:00:00`, `UNLIMITED`), while it runs.
    public var timeLeft: String?
    /// Its engine has connected in and takes tasks.
    public var connected: Bool

    public init(
        id: String, state: String, reason: String? = nil, node: String? = nil, timeLeft: String? = nil,
        connected: Bool = false
    ) {
        self.id = id
        self.state = state
        self.reason = reason
        self.node = node
        self.timeLeft = timeLeft
        self.connected = connected
    }

    /// Queued in the batch system, its engine not yet in: it takes no task.
    public var isQueued: Bool { !connected }
}

/// What an engine says about itself when it joins.
public struct EngineInfo: Sendable, Hashable, Codable {
    public var kind: EngineKind
    public var host: String
    public var pid: Int32
    public var cores: Int
    public init(kind: EngineKind, host: String, pid: Int32, cores: Int) {
        self.kind = kind
        self.host = host
        self.pid = pid
        self.cores = cores
    }
}

/// An engine's state as readers see it.
public enum EngineState: Sendable, Hashable, Codable {
    case idle
    case busy
    /// Removed by the user: takes no new work, finishing what it has.
    case draining
    case dead(reason: String)

    public var isAlive: Bool {
        if case .dead = self { return false }
        return true
    }
    public var label: String {
        switch self {
        case .idle: "idle"
        case .busy: "busy"
        case .draining: "draining"
        case .dead: "dead"
        }
    }
}
