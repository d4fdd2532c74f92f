// Where the dashboard meets its sources: the in-process scheduler, a running ppdash over its socket, a journal read
// back, an ipyparallel hub.
import PPKit

/// A source of snapshots and a sink of commands.
///
/// The dashboard draws whatever implements this, never learning which kind it is.
public protocol DashboardSource: AnyObject, Sendable {
    /// A snapshot with the given table window.
    func snapshot(_ query: TableQuery) -> Snapshot
    /// The whole record of one task, for the detail view.
    func metadata(_ id: TaskID) -> TaskMetadata?
    /// Submits a shell sweep typed at the prompt; returns the new batch or throws a readable error.
    func submit(_ submission: Submission) throws -> BatchID
    func abort(task: TaskID)
    func abort(batch: BatchID)
    func retry(task: TaskID) throws
    func retryFailed(batch: BatchID) throws -> Int
    func setPaused(_ paused: Bool)
    /// Adds one engine of the default kind; returns its id.
    func addEngine() throws -> EngineID
    /// Removes an engine (the highest-numbered idle one when nil).
    func removeEngine(_ id: EngineID?) throws -> EngineID
    /// Stops everything: pending tasks aborted, running ones signalled.
    func stopAll()
    /// Nothing can be changed through it (a journal read back): the dashboard hides the keys that would.
    var readOnly: Bool { get }
    /// Every failed task's record for the triage view (nil: this source cannot list them).
    func failures() -> [FailureRecord]?
    /// The failed tasks grouped for the triage view (nil: this source cannot list them); by default `failures()`
    /// grouped here, an attached view gets the groups its ppdash made (far fewer bytes than every record).
    func failureGroups() -> [FailureGroup]?
    /// Excludes an engine from new work, or includes it again.
    func setExcluded(engine: EngineID, _ excluded: Bool) throws
    /// Upkeep that makes a later query fast without being part of any frame (a `LocalSource` copies a chunk of the
    /// task keys a sort or filter reads): the app loop calls it once per refresh, after the frame, in the time it
    /// waits for a key. Returns whether more is left to do.
    func idle() -> Bool
}

extension DashboardSource {
    /// Sources take commands unless they say otherwise.
    public var readOnly: Bool { false }
    public func failures() -> [FailureRecord]? { nil }
    public func failureGroups() -> [FailureGroup]? { failures().map(Triage.groups) }
    public func setExcluded(engine: EngineID, _ excluded: Bool) throws {
        throw PPError(.invalidState, "this view cannot exclude engines")
    }
    /// Nothing to do between frames.
    public func idle() -> Bool { false }
}

/// A sweep typed at the prompt (`TEMPLATE ::: ARGS`). A source parses it here, so the scheduler only ever sees the
/// typed `Sweep`; the line goes on as typed where a source passes it to another (an attached view to its ppdash).
public struct Submission: Sendable, Hashable {
    public let line: String
    public init(line: String) { self.line = line }

    /// The sweep the line describes; throws a readable reason.
    public func sweep() throws(SweepError) -> Sweep { try Sweep.parse(line: line) }
}

extension DashboardSource {
    /// Submits a prompt line.
    public func submit(line: String) throws -> BatchID { try submit(Submission(line: line)) }
}
