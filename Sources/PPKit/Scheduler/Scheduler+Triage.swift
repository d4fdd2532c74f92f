// Failure triage: what each failed task says of its failure (read on demand, never per frame), and engines excluded
// from new work by the user.

/// One failed task as the triage view groups it.
public struct FailureRecord: Sendable, Hashable, Codable {
    public var task: TaskID
    public var batch: BatchID
    public var engine: EngineID?
    public var status: TaskStatus
    public var exitStatus: Int32?
    public var signal: Int32?
    /// The first non-blank line of its stderr, else of its error message (at most `FailureRecord.lineLimit` chars).
    public var firstLine: String

    public static let lineLimit = 160

    public init(
        task: TaskID, batch: BatchID, engine: EngineID?, status: TaskStatus, exitStatus: Int32?, signal: Int32?,
        firstLine: String
    ) {
        (self.task, self.batch, self.engine, self.status) = (task, batch, engine, status)
        (self.exitStatus, self.signal) = (exitStatus, signal)
        self.firstLine = firstLine
    }

    /// The first line worth showing of `stderr`, else of `error`: trimmed, control characters dropped, cut.
    public static func firstLine(stderr: CapturedOutput, error: String?) -> String {
        func first(_ text: Substring) -> String? {
            for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
                var scalars = String.UnicodeScalarView(line.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F })
                while scalars.first == " " { scalars.removeFirst() }
                while scalars.last == " " { scalars.removeLast() }
                let clean = String(scalars)
                if !clean.isEmpty { return clean.count > lineLimit ? String(clean.prefix(lineLimit - 1)) + "…" : clean }
            }
            return nil
        }
        // The head is enough for a first line: never the whole stream.
        let head = String(decoding: stderr.head.prefix(4096), as: UTF8.self)
        return first(head[...]) ?? error.flatMap { first($0[...]) } ?? ""
    }
}

extension Scheduler {
    /// Every failed task's record for the triage view, in id order: one pass over the tasks (cost: the tasks; call it
    /// when the view is open and something changed, not every frame).
    public func failureRecords() -> [FailureRecord] {
        state.withLock { s in
            var out: [FailureRecord] = []
            for i in 0..<s.tasks.count {
                let slot = TaskSlot(i)
                let r = s.tasks[slot]
                guard r.status.isFailure else { continue }
                let x = s.tasks.extra(slot)
                out.append(
                    FailureRecord(
                        task: slot.id, batch: Int(r.batch), engine: r.engine, status: r.status, exitStatus: x?.exitStatus,
                        signal: x?.signal, firstLine: FailureRecord.firstLine(stderr: x?.stderr ?? .empty, error: x?.error)))
            }
            return out
        }
    }

    /// Excludes an engine from new work (it finishes what it holds) or includes it again; throws for an unknown or
    /// dead engine. Tasks wait for the engines left, as when dispatch is paused.
    public func setExcluded(_ id: EngineID, _ excluded: Bool) throws(PPError) {
        try update { s, _ throws(PPError) in
            guard s.engines.indices.contains(id) else { throw PPError(.unknownID, "no engine \(id)") }
            guard s.engines[id].alive else { throw PPError(.invalidState, "engine \(id) is not running") }
            s.engines[id].excluded = excluded
            s.generation &+= 1
        }
    }
}
