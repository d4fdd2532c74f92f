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
