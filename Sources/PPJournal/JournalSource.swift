// A journal as a read-only dashboard source: what `attach` shows once the ppdash that ran the batch is gone.
import Glibc
import PPKit
import PPSource
import Synchronization

/// Snapshots built from a journal read back; every command is refused with a line saying why.
public final class JournalSource: DashboardSource {
    public let contents: JournalContents
    /// What the header line shows after "ppdash".
    public let label: String
    private let rows: JournalRows
    private let snapshotBase: Snapshot
    /// The table index of the last query's sort and filter (rebuilt when they change: the rows never do).
    private let index = Mutex<TableIndex?>(nil)

    public init(_ contents: JournalContents, label: String) {
        self.contents = contents
        self.label = label
        self.rows = JournalRows(table: contents.table)
        let table = contents.table

        let last = contents.lastRun
        let end = last.endedAt ?? last.lastEvent ?? last.header.started
        var engineStats: [Int: (done: Int, failed: Int)] = [:]
        for i in 0..<table.count where table.run(i) == contents.runs.count && table.status(i).isFinished {
            guard let e = table.engine(i) else { continue }
            if table.status(i) == .ok { engineStats[e, default: (0, 0)].done += 1 } else { engineStats[e, default: (0, 0)].failed += 1 }
        }
        let engines = last.engines.keys.sorted().map { id -> EngineSnapshot in
            let e = last.engines[id]!
            return EngineSnapshot(
                id: id, info: EngineInfo(kind: EngineKind(rawValue: e.kind) ?? .local, host: e.host, pid: 0, cores: 1),
                state: .dead(reason: "ppdash ended"), currentTask: nil, queued: 0, done: engineStats[id]?.done ?? 0,
                failed: engineStats[id]?.failed ?? 0, utilisation: 0, activity: Array(repeating: 0, count: 12))
        }
        var batchCounts = [StatusCounts](repeating: StatusCounts(), count: contents.batchLabels.count)
        var batchSubmitted = [Timestamp?](repeating: nil, count: contents.batchLabels.count)
        var batchFinished = [Timestamp?](repeating: nil, count: contents.batchLabels.count)
        for i in 0..<table.count where batchCounts.indices.contains(table.batch(i) - 1) {
            let k = table.taskKey(i)
            let b = Int(k.batch) - 1
            batchCounts[b][k.status] += 1
            let submitted = Timestamp(microseconds: k.submitted)
            if batchSubmitted[b] == nil || submitted < batchSubmitted[b]! { batchSubmitted[b] = submitted }
            if k.completed > 0, batchFinished[b] == nil || k.completed > batchFinished[b]!.microseconds {
                batchFinished[b] = Timestamp(microseconds: k.completed)
            }
        }
        let batches = contents.batchLabels.indices.map { b -> BatchSnapshot in
            let submitted = batchSubmitted[b] ?? last.header.started
            let done = batchCounts[b].done == batchCounts[b].total
            let finished = done ? batchFinished[b] : nil
            let secs = max(1e-3, submitted.seconds(to: finished ?? end))
            return BatchSnapshot(
                id: b + 1, label: contents.batchLabels[b], counts: batchCounts[b], submitted: submitted,
                finished: finished, rate: RateMeter.average(batchCounts[b].done, seconds: secs), eta: nil)
        }
        snapshotBase = Snapshot(
            time: end, startedAt: contents.runs[0].header.started, generation: 1, paused: false,
            totals: contents.counts, rate: 0, engines: engines, batches: batches, batchCount: batches.count,
            table: .empty, source: label)
    }

    public func snapshot(_ query: TableQuery) -> Snapshot {
        var s = snapshotBase
        s.batches = Array(s.batches.suffix(max(0, query.batchLimit)))
        var cost = 0
        s.table = index.withLock { TableIndex.window(rows, query, index: &$0, changed: [], anchor: nil, cost: &cost) }
        return s
    }

    public func metadata(_ id: TaskID) -> TaskMetadata? {
        let i = id.rawValue - 1
        guard i >= 0 && i < contents.table.count else { return nil }
        let t = contents.table.task(i)
        let o = t.outputOffset.flatMap { JournalReader.outcome(at: $0, in: contents.path) } ?? t.outcome
        var m = TaskMetadata(
            id: id, batch: t.batch, seq: t.seq, engine: t.engine, engineHost: o?.engineHost ?? t.host, status: t.status,
            submitted: t.submitted, started: t.started, completed: t.completed, received: t.completed,
            retries: t.retries,
            stdout: CapturedOutput(
                bytes: o?.stdoutBytes ?? Array((o?.stdout ?? "").utf8), droppedBytes: o?.stdoutDropped ?? 0,
                spool: o?.stdoutSpool),
            stderr: CapturedOutput(
                bytes: o?.stderrBytes ?? Array((o?.stderr ?? "").utf8), droppedBytes: o?.stderrDropped ?? 0,
                spool: o?.stderrSpool),
            error: o?.error,
            exitStatus: o?.exit, signal: o?.signal, text: t.command, args: t.args, externalId: t.key, usage: o?.usage)
        // The line keeps a few KiB of a long stream: the rest is read back from its spool file (head and tail, as a
        // live run shows); a spool file that is gone is not named (the view then says how much it cannot show).
        m.stdout = Self.fromSpool(m.stdout)
        m.stderr = Self.fromSpool(m.stderr)
        return m
    }

    private static func fromSpool(_ o: CapturedOutput) -> CapturedOutput {
        guard o.droppedBytes > 0, let path = o.spool else { return o }
        if let whole = o.readBack(ifCut: true) { return whole }
        var cut = o
        if access(path, F_OK) != 0 { cut.spool = nil }
        return cut
    }

    private var refusal: PPError {
        PPError(
            .invalidState,
            "read-only: the ppdash that ran this journal has ended; 'ppdash resume \(contents.path)' runs what is left")
    }

    public func submit(_ submission: Submission) throws -> BatchID { throw refusal }
    public func abort(task: TaskID) {}
    public func abort(batch: BatchID) {}
    public func retry(task: TaskID) throws { throw refusal }
    public func retryFailed(batch: BatchID) throws -> Int { throw refusal }
    public func setPaused(_ paused: Bool) {}
    public func addEngine() throws -> EngineID { throw refusal }
    public func removeEngine(_ id: EngineID?) throws -> EngineID { throw refusal }
    public func stopAll() {}
    /// A journal read back takes no commands.
    public var readOnly: Bool { true }

    /// The failed tasks as their `completed` lines say, for the triage view (`!`) of a finished run.
    public func failures() -> [FailureRecord]? {
        let table = contents.table
        return (0..<table.count).compactMap { i -> FailureRecord? in
            guard table.status(i).isFailure else { return nil }
            let t = table.task(i)
            let o = t.outcome ?? t.outputOffset.flatMap { JournalReader.outcome(at: $0, in: contents.path) }
            let stderr = CapturedOutput(bytes: o?.stderrBytes ?? Array((o?.stderr ?? "").utf8), droppedBytes: 0)
            return FailureRecord(
                task: TaskID(i + 1), batch: t.batch, engine: t.engine, status: t.status, exitStatus: o?.exit,
                signal: o?.signal, firstLine: FailureRecord.firstLine(stderr: stderr, error: o?.error))
        }
    }
}

/// A journal's task rows as the table query reads them (from the reader's compact rows; a command is read back from
/// the file when shown or searched); the key is the journal's msg_id.
struct JournalRows: TaskColumns, Sendable {
    let table: JournalTaskTable
    var taskCount: Int { table.count }
    func key(_ i: Int) -> TaskKey { table.taskKey(i) }
    func text(_ i: Int) -> String { table.command(i) }
    func externalId(_ i: Int) -> String? { table.key(i) }
    func row(_ i: Int) -> TaskRow { TaskRow(index: i, key: table.taskKey(i), text: table.command(i), msgId: table.key(i)) }
}
