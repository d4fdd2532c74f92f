// One command line run's journal and state socket together: opened at start, closed at exit.
import PPAttach
import PPKit
import PPSource

/// The journal writer and the state server of one ppdash run.
public final class JournalSession: Sendable {
    public let writer: JournalWriter
    /// Nil when the socket could not be made (a warning said why); the batch runs on.
    public let server: StateServer?
    private let scheduler: Scheduler

    /// Opens the journal (new, or appended for a resume), records the engines already there, and starts serving
    /// `source` on the socket beside the journal. `gatherCompleted`: nothing prints completions (see `JournalWriter`).
    public init(
        path: String, header: JournalHeader, scheduler: Scheduler, source: any DashboardSource, append: Bool = false,
        gatherCompleted: Bool = false, makeDirectory: Bool = true, ppdashVersion: String,
        warn: @escaping @Sendable (String) -> Void
    ) throws(JournalError) {
        var header = header
        let socketPath = JournalFormat.socketPath(forJournal: path)
        header.socket = socketPath
        writer = try JournalWriter(
            path: path, header: header, scheduler: scheduler, append: append, gatherCompleted: gatherCompleted,
            makeDirectory: makeDirectory, warn: warn)
        self.scheduler = scheduler
        // A journal that cannot be written stops the run from dispatching: a task the journal cannot record ok
        // would be run again by a resume. Pending tasks are aborted (the run ends non-zero); running ones finish.
        writer.onWriteFailure { [scheduler] _ in
            scheduler.isPaused = true
            let batches = scheduler.snapshot(TableQuery(limit: 0, batchLimit: 0)).batchCount
            if batches > 0 { for b in 1...batches { scheduler.abortPending(batch: b) } }
        }
        // A task's started line (its process group) is written as its process starts, on the engine's thread.
        scheduler.setStartHook { [writer] task, engine, at, group in
            writer.recordStartNow(task, engine: engine, at: at, processGroup: group)
        }
        for e in scheduler.snapshot(TableQuery(limit: 0, batchLimit: 0)).engines {
            writer.recordEngine(e)
            // An engine that died before the journal opened (one that never started): its death is told too.
            if case .dead(let reason) = e.state { writer.record(.engineDied(e.id, reason: reason)) }
        }
        do {
            server = try StateServer(
                path: socketPath, source: JournaledSource(inner: source, writer: writer), info: ServerInfo(journal: path, ppdash: ppdashVersion), note: warn)
        } catch {
            warn("ppdash: no attach socket for this run (\(error.description)); the journal is written all the same")
            server = nil
        }
    }

    public var path: String { writer.path }

    /// `source` with the journal written before each snapshot, so a view never shows a task the journal lacks.
    public func journaled(_ source: any DashboardSource) -> any DashboardSource {
        JournaledSource(inner: source, writer: writer)
    }

    /// Records one event (call it first in an observer that prints, so the line is written before the output).
    public func record(_ event: SchedulerEvent) { writer.record(event) }
    /// Records a delivery round's events (call it first in a round observer that prints).
    public func record(_ events: [SchedulerEvent]) { writer.record(events) }

    /// Registers the writer as its own observer (when nothing prints events).
    @discardableResult
    public func observe() -> Int {
        scheduler.addRoundObserver { [writer] events in writer.record(events) }
    }

    /// Viewers attached now.
    public var viewerCount: Int { server?.viewerCount ?? 0 }

    /// Writes the closing line with the scheduler's counts, then stops serving. Idempotent.
    public func finish(reason: String = "done") {
        scheduler.setStartHook(nil)
        scheduler.flushEvents()
        writer.finish(reason: writer.hasFailed ? "journal write failed" : reason, totals: scheduler.totals)
        server?.stop()
    }
}

/// A dashboard source that flushes the journal before each snapshot (gathered lines reach the kernel first).
final class JournaledSource: DashboardSource {
    let inner: any DashboardSource
    let writer: JournalWriter
    init(inner: any DashboardSource, writer: JournalWriter) {
        self.inner = inner
        self.writer = writer
    }
    func snapshot(_ query: TableQuery) -> Snapshot {
        writer.flush()
        var s = inner.snapshot(query)
        if let why = writer.failureReason {
            // The header line shows the source: a failed journal is said there, on every viewer, until the end.
            s.source = (s.source.isEmpty ? "" : s.source + " ") + "· JOURNAL WRITE FAILED (\(why)): no new task starts"
        }
        return s
    }
    func metadata(_ id: TaskID) -> TaskMetadata? {
        writer.flush()
        return inner.metadata(id)
    }
    func submit(_ submission: Submission) throws -> BatchID { try inner.submit(submission) }
    func abort(task: TaskID) { inner.abort(task: task) }
    func abort(batch: BatchID) { inner.abort(batch: batch) }
    func retry(task: TaskID) throws { try inner.retry(task: task) }
    func retryFailed(batch: BatchID) throws -> Int { try inner.retryFailed(batch: batch) }
    func setPaused(_ paused: Bool) { inner.setPaused(paused) }
    func addEngine() throws -> EngineID { try inner.addEngine() }
    func removeEngine(_ id: EngineID?) throws -> EngineID { try inner.removeEngine(id) }
    func stopAll() { inner.stopAll() }
    // The triage and exclusion go through too (without these the journaled dashboard, and every view attached to
    // it, said "cannot list failed tasks" and "cannot exclude engines").
    var readOnly: Bool { inner.readOnly }
    func failures() -> [FailureRecord]? { inner.failures() }
    func failureGroups() -> [FailureGroup]? { inner.failureGroups() }
    func setExcluded(engine: EngineID, _ excluded: Bool) throws { try inner.setExcluded(engine: engine, excluded) }
    func idle() -> Bool { inner.idle() }
}
