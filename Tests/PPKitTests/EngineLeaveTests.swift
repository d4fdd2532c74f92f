// An engine shut down without grace starts nothing more: what is queued behind the running task comes back aborted
// and unstarted, however the running task ends (a connected-in worker stopped with SIGTERM hands its queued tasks
// back this way, and the scheduler puts them back unpaid only if they never started).
import Dispatch
import Synchronization
import Testing

@testable import PPKit

/// Records what an engine reports.
private final class RecordingSink: EngineSink {
    struct Log {
        var started: [TaskID] = []
        var finished: [(task: TaskID, status: TaskStatus, error: String?)] = []
    }
    let log = Mutex(Log())

    func engineStarted(_ engine: EngineID, task: TaskID, at: Timestamp, processGroup: Int32?) {
        log.withLock { $0.started.append(task) }
    }
    func engineFinished(_ engine: EngineID, task: TaskID, outcome: TaskOutcome) {
        log.withLock { $0.finished.append((task, outcome.status, outcome.error)) }
    }
    func engineSettled(_ engine: EngineID, task: TaskID, outcome: TaskOutcome) {}
    func engineDied(_ engine: EngineID, reason: String, neverStarted: Set<TaskID>) {}
}

private func assignment(_ id: Int, _ body: @escaping @Sendable () -> any Sendable) -> Assignment {
    Assignment(
        task: TaskID(id), work: .blocking(body), runTimeLimit: nil, maxOutput: 1 << 16, spoolDirectory: nil,
        outputTap: nil, slot: 1, workingDirectory: nil, environment: [:])
}

@Suite("engine shut down without grace")
struct EngineLeaveTests {
    @Test("a task queued behind the running one is never started once the engine is shut down, though the running one ends on its own")
    func queuedNeverStarts() throws {
        let engine = InProcessEngine()
        let sink = RecordingSink()
        engine.start(id: 0, sink: sink)
        let gate = DispatchSemaphore(value: 0)
        let ran = Atomic<Int>(0)
        engine.run(assignment(1) { gate.wait(); return 1 })
        engine.run(assignment(2) { ran.add(1, ordering: .relaxed); return 2 })
        #expect(eventually { sink.log.withLock { $0.started } == [TaskID(1)] }, "task 1 runs")
        // A closure cannot be interrupted: task 1 runs on and ends on its own after the shutdown, the moment a
        // queued task used to start.
        engine.shutdown(graceful: false)
        gate.signal()
        #expect(eventually { sink.log.withLock { $0.finished.count } == 2 }, "both reported")
        let log = sink.log.withLock { $0 }
        #expect(log.started == [TaskID(1)], "only the running task ever started: \(log.started)")
        #expect(ran.load(ordering: .relaxed) == 0, "the queued closure never ran")
        let second = try #require(log.finished.first { $0.task == TaskID(2) })
        #expect(second.status == .aborted && second.error == "aborted before it ran", "\(second)")
    }

    @Test("a graceful shutdown still runs what is queued")
    func gracefulRunsQueued() throws {
        let engine = InProcessEngine()
        let sink = RecordingSink()
        engine.start(id: 0, sink: sink)
        let gate = DispatchSemaphore(value: 0)
        engine.run(assignment(1) { gate.wait(); return 1 })
        engine.run(assignment(2) { 2 })
        #expect(eventually { sink.log.withLock { $0.started } == [TaskID(1)] })
        engine.shutdown(graceful: true)
        gate.signal()
        #expect(eventually { sink.log.withLock { $0.finished.count } == 2 })
        let log = sink.log.withLock { $0 }
        #expect(log.started == [TaskID(1), TaskID(2)])
        #expect(log.finished.allSatisfy { $0.status == .ok }, "\(log.finished.map(\.status))")
    }
}
