/// The dashboard's view of an in-process client: snapshots from its scheduler, commands through its public API.
public final class LocalSource: DashboardSource {
    public let client: Client
    /// Flags for batches typed at the prompt (retries, run-time limit ...).
    public let flags: ViewFlags

    public init(client: Client, flags: ViewFlags = ViewFlags()) {
        self.client = client
        self.flags = flags
    }

    public func snapshot(_ query: TableQuery) -> Snapshot { client.scheduler.snapshot(query) }
    public func metadata(_ id: TaskID) -> TaskMetadata? { client.scheduler.metadata(id) }

    public func submit(line: String) throws -> BatchID {
        let sweep = try Sweep.parse(line: line)
        var view = client.loadBalancedView()
        view.flags = flags
        return try view.submit(sweep).batch
    }

    public func abort(task: TaskID) { client.scheduler.abort(task: task) }
    public func abort(batch: BatchID) { client.scheduler.abort(batch: batch) }
    public func retry(task: TaskID) throws { try client.scheduler.retry(task: task) }
    public func retryFailed(batch: BatchID) throws -> Int { try client.scheduler.retryFailed(batch: batch) }
    public func setPaused(_ paused: Bool) { client.scheduler.isPaused = paused }
    public func addEngine() throws -> EngineID { try client.addEngine() }

    public func removeEngine(_ id: EngineID?) throws -> EngineID {
        let snap = client.scheduler.snapshot(TableQuery(limit: 0, batchLimit: 0))
        let alive = snap.engines.filter { $0.state == .idle || $0.state == .busy }
        guard let target = id ?? (alive.last { $0.state == .idle } ?? alive.last)?.id else {
            throw PPError(.noEngine, "no engine to remove")
        }
        try client.removeEngine(target)
        return target
    }

    public func stopAll() { client.shutdown() }
}
