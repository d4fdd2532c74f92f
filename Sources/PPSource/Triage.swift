// Failure triage: failed tasks grouped by how they failed (status, exit status or signal, first error line), with
// counts and the engines they failed on. A pure function of the failure records.
import PPKit

/// Failed tasks that failed the same way.
public struct FailureGroup: Sendable, Hashable, Codable {
    public var status: TaskStatus
    public var exitStatus: Int32?
    public var signal: Int32?
    /// The first error line they share ("" when they said nothing).
    public var firstLine: String
    /// The tasks, in id order.
    public var tasks: [TaskID]
    /// How many of them failed on each engine, most first (ties by engine id); tasks that never ran on one are not
    /// counted.
    public var engines: [(engine: EngineID, count: Int)] {
        get { engineCounts.map { ($0.engine, $0.count) } }
        set { engineCounts = newValue.map { EngineCount(engine: $0.engine, count: $0.count) } }
    }
    struct EngineCount: Sendable, Hashable, Codable {
        var engine: EngineID
        var count: Int
    }
    var engineCounts: [EngineCount] = []

    public var count: Int { tasks.count }

    /// How they ended, in a few words: `exit 1`, `signal 9`, `timeout`, `aborted`, `error`.
    public var reason: String {
        if let s = signal { return "signal \(s)" + (Self.signalNames[s].map { " (\($0))" } ?? "") }
        if let e = exitStatus, status == .error { return "exit \(e)" }
        return status.description
    }

    static let signalNames: [Int32: String] = [
        1: "HUP", 2: "INT", 3: "QUIT", 4: "ILL", 6: "ABRT", 7: "BUS", 8: "FPE", 9: "KILL", 11: "SEGV", 13: "PIPE",
        14: "ALRM", 15: "TERM",
    ]

    /// The engines as the view lists them: `e0×3 e2×1`.
    public var enginesText: String {
        engineCounts.isEmpty ? "-" : engineCounts.map { "e\($0.engine)×\($0.count)" }.joined(separator: " ")
    }

    public static func == (a: FailureGroup, b: FailureGroup) -> Bool {
        a.status == b.status && a.exitStatus == b.exitStatus && a.signal == b.signal && a.firstLine == b.firstLine
            && a.tasks == b.tasks && a.engineCounts == b.engineCounts
    }
    public func hash(into h: inout Hasher) {
        h.combine(status)
        h.combine(exitStatus)
        h.combine(signal)
        h.combine(firstLine)
        h.combine(tasks)
    }
}

public enum Triage {
    struct Key: Hashable {
        var status: TaskStatus
        var exit: Int32?
        var signal: Int32?
        var line: String
    }

    /// The groups, largest first (ties: the group whose first task is oldest first).
    public static func groups(_ records: [FailureRecord]) -> [FailureGroup] {
        var index = [Key: Int]()
        var groups: [FailureGroup] = []
        var perEngine: [[EngineID: Int]] = []
        for r in records where r.status.isFailure {
            let key = Key(status: r.status, exit: r.signal == nil ? r.exitStatus : nil, signal: r.signal, line: r.firstLine)
            let i: Int
            if let found = index[key] {
                i = found
            } else {
                i = groups.count
                index[key] = i
                groups.append(
                    FailureGroup(status: key.status, exitStatus: key.exit, signal: key.signal, firstLine: key.line, tasks: []))
                perEngine.append([:])
            }
            groups[i].tasks.append(r.task)
            if let e = r.engine { perEngine[i][e, default: 0] += 1 }
        }
        for i in groups.indices {
            groups[i].tasks.sort()
            groups[i].engines = perEngine[i].sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .map { ($0.key, $0.value) }
        }
        return groups.sorted { a, b in
            a.count != b.count ? a.count > b.count : (a.tasks.first ?? TaskID(0)) < (b.tasks.first ?? TaskID(0))
        }
    }

    /// The table filter that shows exactly a group's tasks: `#3,17,42`.
    public static func filter(for group: FailureGroup) -> String {
        "#" + group.tasks.map { String($0.rawValue) }.joined(separator: ",")
    }
}
