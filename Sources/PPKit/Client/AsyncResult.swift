import Foundation

/// The shared core of an AsyncResult: one batch in the scheduler.
public final class BatchHandle: Sendable {
    public let scheduler: Scheduler
    public let batch: BatchID
    let ordered: Bool
    /// The ids of its tasks made so far (a lazy or streamed batch makes them as they run).
    var range: Range<Int> {
        let v = scheduler.batchView(batch)
        return v.first..<(v.first + v.made)
    }

    init(scheduler: Scheduler, batch: BatchID, ordered: Bool) {
        self.scheduler = scheduler
        self.batch = batch
        self.ordered = ordered
    }
}

/// What every AsyncResult offers, as ipyparallel's AsyncResult does.
public protocol AsyncResultProtocol: Sendable {
    var handle: BatchHandle { get }
}

extension AsyncResultProtocol {
    /// The batch's id.
    public var batch: BatchID { handle.batch }
    /// Tasks finished, whatever their outcome (ipyparallel's `progress`).
    public var progress: Int { handle.scheduler.batchView(handle.batch).counts.done }
    /// Tasks in the batch (`len(ar)`); of a stream still being read, those read so far (see `isOpen`).
    public var count: Int { handle.scheduler.batchView(handle.batch).count }
    /// A streamed batch whose input is still being read: its count is not known yet.
    public var isOpen: Bool { handle.scheduler.batchView(handle.batch).open }
    /// Per-status counts.
    public var counts: StatusCounts { handle.scheduler.batchView(handle.batch).counts }
    /// Task ids, in submission order (ipyparallel's `msg_ids`).
    public var msgIds: [TaskID] { handle.range.map { TaskSlot($0).id } }

    /// True when every task has finished; never blocks.
    public func ready() -> Bool {
        let v = handle.scheduler.batchView(handle.batch)
        return !v.open && v.counts.done == v.count
    }

    /// True if every task finished `ok`; throws `notReady` while tasks remain.
    public func successful() throws(PPError) -> Bool {
        let v = handle.scheduler.batchView(handle.batch)
        guard !v.open && v.counts.done == v.count else { throw PPError(.notReady, "batch \(handle.batch) is not finished (\(v.counts.done)/\(v.count))") }
        return v.counts.failed == 0
    }

    /// Seconds since submission; the wall time once ready.
    public var elapsed: Double {
        let v = handle.scheduler.batchView(handle.batch)
        // A batch whose tasks were all settled unmade (stopped before any ran) has no received time.
        if !v.open && v.counts.done == v.count && v.count > 0 && v.lastReceived >= v.submitted {
            return Double(v.lastReceived - v.submitted) / 1e6
        }
        return Double(handle.scheduler.clock.now().microseconds - v.submitted) / 1e6
    }

    /// Sum of the tasks' run times (completed - started); throws `notReady` until ready.
    public var serialTime: Double {
        get throws(PPError) {
            let v = handle.scheduler.batchView(handle.batch)
            guard !v.open && v.counts.done == v.count else { throw PPError(.notReady, "serialTime is known once the batch is done") }
            return Double(v.serialMicros) / 1e6
        }
    }

    /// Last received minus first submitted; throws `notReady` until ready.
    public var wallTime: Double {
        get throws(PPError) {
            let v = handle.scheduler.batchView(handle.batch)
            guard !v.open && v.counts.done == v.count else { throw PPError(.notReady, "wallTime is known once the batch is done") }
            return Double(max(0, v.lastReceived - v.submitted)) / 1e6
        }
    }

    /// Every task's metadata, in submission order (`metadata[i]`).
    public var metadata: [TaskMetadata] { handle.scheduler.metadataRange(handle.range) }

    /// Metadata of the i-th task (0-based).
    public func metadata(_ i: Int) -> TaskMetadata? {
        guard i >= 0 && i < handle.range.count else { return nil }
        return handle.scheduler.metadata(TaskSlot(handle.range.lowerBound + i).id)
    }

    /// Blocks until ready or `timeout` seconds pass (nil: forever); true if ready.
    @discardableResult
    public func wait(timeout: Double? = nil) -> Bool { handle.scheduler.waitBlocking(handle.batch, timeout: timeout) }

    /// Suspends until ready or `timeout` seconds pass; true if ready.
    @discardableResult
    public func wait(timeout: Double? = nil) async -> Bool { await handle.scheduler.waitAsync(handle.batch, timeout: timeout) }

    /// Pending tasks never run; running ones are stopped. Finished ones keep their results.
    public func abort() { handle.scheduler.abort(batch: handle.batch) }

    /// The values, or throws: a timeout, the one failure, or a CompositeError for several.
    func values(timeout: Double?) throws -> [(any Sendable)?] {
        let deadline = timeout.map { handle.scheduler.clock.monotonicNanoseconds() + Int64(min($0, 1e9) * 1e9) }
        while true {
            let left = deadline.map { Double($0 - handle.scheduler.clock.monotonicNanoseconds()) / 1e9 }
            guard handle.scheduler.waitBlocking(handle.batch, timeout: left.map { max(0, $0) }) else {
                throw timeoutError(timeout)
            }
            // A retry may have reopened the batch between the wake-up and this read: wait again.
            if let outcome = handle.scheduler.batchOutcome(handle.batch) { return try Self.collect(outcome) }
        }
    }

    func values(timeout: Double?) async throws -> [(any Sendable)?] {
        let deadline = timeout.map { handle.scheduler.clock.monotonicNanoseconds() + Int64(min($0, 1e9) * 1e9) }
        while true {
            let left = deadline.map { Double($0 - handle.scheduler.clock.monotonicNanoseconds()) / 1e9 }
            guard await handle.scheduler.waitAsync(handle.batch, timeout: left.map { max(0, $0) }) else {
                throw timeoutError(timeout)
            }
            if let outcome = handle.scheduler.batchOutcome(handle.batch) { return try Self.collect(outcome) }
        }
    }

    private func timeoutError(_ timeout: Double?) -> PPError {
        PPError(.timeout, "batch \(handle.batch) not ready after \(formatSeconds(timeout ?? 0)) s (\(progress)/\(count) done)")
    }

    private static func collect(_ outcome: (values: [(any Sendable)?], failures: [TaskFailure])) throws -> [(any Sendable)?] {
        if outcome.failures.count == 1 { throw outcome.failures[0] }
        if outcome.failures.count > 1 { throw CompositeError(failures: outcome.failures) }
        return outcome.values
    }
}

/// The handle of a map: many results, in submission order by default.
public struct AsyncMapResult<Element: Sendable>: AsyncResultProtocol, AsyncSequence {
    public let handle: BatchHandle

    /// Every result in submission order; waits up to `timeout` seconds (nil: forever).
    public func get(timeout: Double? = nil) throws -> [Element] {
        try values(timeout: timeout).map { $0 as! Element }
    }

    /// Every result, suspending instead of blocking.
    public func get(timeout: Double? = nil) async throws -> [Element] {
        try await values(timeout: timeout).map { $0 as! Element }
    }

    /// Results in the order tasks complete, with each task's index in the batch; a failed task is thrown when reached.
    public var completions: CompletionSequence<Element> { CompletionSequence(handle: handle) }

    /// Iteration order follows the view's `ordered` flag: submission order (default) or completion order.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(handle: handle, inner: handle.scheduler.completionStream(handle.batch).makeAsyncIterator())
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let handle: BatchHandle
        var inner: AsyncStream<Int>.AsyncIterator
        var next = 0
        var seen = Set<Int>()

        public mutating func next() async throws -> Element? {
            if handle.ordered {
                guard next < handle.range.count else { return nil }
                let idx = handle.range.lowerBound + next
                while handle.scheduler.taskOutcome(idx) == nil {
                    guard let done = await inner.next() else { break }
                    seen.insert(done)
                }
                next += 1
                return try Self.unwrap(handle.scheduler.taskOutcome(idx), idx)
            }
            guard let idx = await inner.next() else { return nil }
            return try Self.unwrap(handle.scheduler.taskOutcome(idx), idx)
        }

        static func unwrap(_ r: Result<(any Sendable)?, TaskFailure>?, _ idx: Int) throws -> Element {
            switch r {
            case .success(let v)?: return v as! Element
            case .failure(let f)?: throw f
            case nil: throw PPError(.invalidState, "task \(TaskSlot(idx).id) was retried before it could be read")
            }
        }
    }
}

/// Results in completion order: `(index in batch, value)`.
public struct CompletionSequence<Value: Sendable>: AsyncSequence, Sendable {
    let handle: BatchHandle

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(handle: handle, inner: handle.scheduler.completionStream(handle.batch).makeAsyncIterator())
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let handle: BatchHandle
        var inner: AsyncStream<Int>.AsyncIterator
        public mutating func next() async throws -> (index: Int, value: Value)? {
            guard let idx = await inner.next() else { return nil }
            let v = try AsyncMapResult<Value>.AsyncIterator.unwrap(handle.scheduler.taskOutcome(idx), idx)
            return (idx - handle.range.lowerBound, v)
        }
    }
}

/// The handle of one task (apply).
public struct AsyncResult<Value: Sendable>: AsyncResultProtocol {
    public let handle: BatchHandle

    /// The value; waits up to `timeout` seconds (nil: forever).
    public func get(timeout: Double? = nil) throws -> Value {
        try values(timeout: timeout)[0] as! Value
    }

    public func get(timeout: Double? = nil) async throws -> Value {
        try await values(timeout: timeout)[0] as! Value
    }
}
