// Resource meters: what the task an engine runs uses now (its whole process tree) and its host's load and memory.
// Local engines and `proc` workers are read from this host's /proc; ssh and connected-in workers send theirs with
// their heartbeats (`WireMessage.load`).
import PPSystem
import Synchronization

/// What an engine's running task and its host use now.
public struct EngineMeters: Sendable, Hashable, Codable {
    /// CPU of the running task's process tree, percent of one core (nil: not known yet, or nothing runs).
    public var taskCPUPercent: Double?
    /// Resident memory of the running task's process tree, bytes.
    public var taskRSSBytes: Int64?
    /// The engine's host: load and available memory.
    public var host: HostLoad?

    public init(taskCPUPercent: Double? = nil, taskRSSBytes: Int64? = nil, host: HostLoad? = nil) {
        self.taskCPUPercent = taskCPUPercent.flatMap { $0.isFinite ? max(0, $0) : nil }
        self.taskRSSBytes = taskRSSBytes.map { max(0, $0) }
        self.host = host
    }
}

extension Engine {
    public func reportedMeters() -> EngineMeters? { nil }
}

/// Reads process trees and the host from /proc at most once per `interval` and keeps the last two readings per tree
/// (CPU% is the change between them). One pass over /proc serves every engine: the cost is the host's processes,
/// not the engines' count. Thread-safe (a Mutex).
public final class MeterSampler: Sendable {
    public let interval: Double
    private struct State {
        var at: Double = -1
        var previous: [Int32: ProcessTreeUsage] = [:]
        var meters: [Int32: (cpu: Double?, rss: Int64)] = [:]
        var host: HostLoad?
    }
    private let state = Mutex(State())
    /// Monotonic seconds (injectable for tests).
    private let clock: @Sendable () -> Double
    /// Every process's stat line (injectable for tests).
    private let processes: @Sendable () -> [ProcessStat]
    private let hostLoad: @Sendable () -> HostLoad?

    public init(
        interval: Double = 1,
        clock: @escaping @Sendable () -> Double = { SystemTime.monotonicSeconds() },
        processes: @escaping @Sendable () -> [ProcessStat] = { SystemFacts.processes() },
        hostLoad: @escaping @Sendable () -> HostLoad? = { HostLoad.current() }
    ) {
        self.interval = interval
        self.clock = clock
        self.processes = processes
        self.hostLoad = hostLoad
    }

    /// Meters for the trees rooted at `roots` (a running task's process, which leads its group) and this host.
    /// Reads /proc again only when `interval` has passed since the last reading (or a root is new).
    public func meters(roots: [Int32]) -> (trees: [Int32: EngineMeters], host: HostLoad?) {
        let now = clock()
        return state.withLock { s in
            let fresh = now - s.at >= interval || roots.contains { s.meters[$0] == nil && s.previous[$0] == nil }
            if fresh {
                let at = Int64(now * 1e9)
                let sums = ProcessTreeUsage.sum(roots: roots, in: processes(), at: at)
                var meters = [Int32: (cpu: Double?, rss: Int64)]()
                for (root, u) in sums { meters[root] = (s.previous[root].flatMap { u.cpuPercent(since: $0) }, u.rssBytes) }
                s.previous = sums
                s.meters = meters
                s.host = hostLoad()
                s.at = now
            }
            var out = [Int32: EngineMeters]()
            for r in roots {
                if let m = s.meters[r] { out[r] = EngineMeters(taskCPUPercent: m.cpu, taskRSSBytes: m.rss, host: s.host) }
            }
            return (out, s.host)
        }
    }
}

extension Scheduler {
    /// The engines' meters: local and `proc` engines' running tasks read from this host's /proc through `sampler`,
    /// the others as their workers reported. Engines are read under the lock; /proc outside it.
    public func engineMeters(_ engines: [EngineSnapshot], sampler: MeterSampler) -> [EngineID: EngineMeters] {
        let refs = state.withLock { s in
            engines.map { e -> (EngineSnapshot, (any Engine)?, Int32?) in
                guard s.engines.indices.contains(e.id) else { return (e, nil, nil) }
                let slot = s.engines[e.id]
                let group = slot.current.flatMap { s.tasks.contains($0) ? s.tasks[$0].processGroup : nil }
                return (e, slot.engine, group)
            }
        }
        var roots: [Int32] = []
        for (e, _, group) in refs where e.info.kind == .local || e.info.kind == .proc {
            if let group, group > 1 { roots.append(group) }
        }
        let local = sampler.meters(roots: roots)
        var out = [EngineID: EngineMeters]()
        for (e, engine, group) in refs where e.state.isAlive {
            if e.info.kind == .local || e.info.kind == .proc {
                out[e.id] = group.flatMap { local.trees[$0] } ?? EngineMeters(host: local.host)
            } else if var m = engine?.reportedMeters() {
                // What ran when the worker last reported is not what runs now when it is idle.
                if e.currentTask == nil { (m.taskCPUPercent, m.taskRSSBytes) = (nil, nil) }
                out[e.id] = m
            }
        }
        return out
    }
}

/// A worker's meters for its heartbeats: its host and its children's process trees (a worker's children are the
/// tasks it runs), at most once per `interval`.
public final class WorkerMeter: Sendable {
    public let interval: Double
    /// The last reading's time and the children's summed CPU ticks then. Guarded by this Mutex.
    private let last = Mutex<(at: Double, ticks: Int64?)>((-Double.infinity, nil))

    public init(interval: Double = 1) { self.interval = interval }

    /// A reading when `interval` has passed since the last one, else nil (nothing to send this beat).
    /// `busy`: whether a task runs; an idle worker has no task tree to measure, and does not scan every process of
    /// the host for one (256 idle workers each scanning /proc every second cost more CPU than they had).
    public func reading(now: Double = SystemTime.monotonicSeconds(), busy: Bool = true) -> WireLoad? {
        guard last.withLock({ now - $0.at >= interval }) else { return nil }
        guard let host = HostLoad.current() else { return nil }
        if !busy {
            last.withLock { $0 = (now, nil) }
            return WireLoad(host: host)
        }
        let all = SystemFacts.processes()
        let me = SystemFacts.pid
        let roots = all.filter { $0.parent == me && !$0.isZombie }.map(\.pid)
        let trees = ProcessTreeUsage.sum(roots: roots, in: all, at: Int64(now * 1e9))
        let ticks = trees.values.reduce(Int64(0)) { $0 &+ $1.cpuTicks }
        let rss = trees.values.reduce(Int64(0)) { $0 &+ $1.rssBytes }
        let previous = last.withLock { l -> (at: Double, ticks: Int64?) in
            defer { l = (now, roots.isEmpty ? nil : ticks) }
            return l
        }
        guard !roots.isEmpty else { return WireLoad(host: host) }
        var cpu: Double?
        if let p = previous.ticks, now > previous.at {
            cpu = max(0, Double(ticks - p) / ProcessTreeUsage.ticksPerSecond / (now - previous.at) * 100)
        }
        return WireLoad(host: host, taskCPUPercent: cpu, taskRSSBytes: rss)
    }
}
