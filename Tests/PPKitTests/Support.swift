import Foundation
import PPSystem
import Synchronization
@testable import PPKit

/// Sleeps the calling thread (blocking, as the recipe's `time.sleep`).
func blockingSleep(_ s: Double) { usleep(useconds_t(s * 1_000_000)) }

/// A client with `n` in-process engines.
func makeClient(_ n: Int, scheme: Scheme = .leastLoad) -> Client { Client(engines: n, scheme: scheme) }

/// A counter shared across engine threads.
final class Counter: Sendable {
    let value = Mutex(0)
    @discardableResult func increment() -> Int { value.withLock { $0 += 1; return $0 } }
    var count: Int { value.withLock { $0 } }
}

/// Records values from any thread.
final class Recorder<T: Sendable>: Sendable {
    let items = Mutex<[T]>([])
    func append(_ x: T) { items.withLock { $0.append(x) } }
    var all: [T] { items.withLock { $0 } }
}

struct Boom: Error, CustomStringConvertible {
    var n: Int
    var description: String { "boom \(n)" }
}

/// An engine the test drives by hand: it holds tasks until told to finish them or to die.
final class ManualEngine: Engine {
    let info = EngineInfo(kind: .proc, host: "testhost", pid: 1, cores: 1)
    /// It runs in this process, so it takes closures.
    var runsClosures: Bool { true }
    let highWaterMark: Int
    struct S {
        var id = -1
        var sink: (any EngineSink)?
        var queue: [Assignment] = []
    }
    let s = Mutex(S())
    init(highWaterMark: Int = 1) { self.highWaterMark = highWaterMark }
    func start(id: EngineID, sink: any EngineSink) { s.withLock { $0.id = id; $0.sink = sink } }
    func run(_ a: Assignment) {
        let (id, sink, first) = s.withLock { st -> (Int, (any EngineSink)?, Bool) in
            st.queue.append(a)
            return (st.id, st.sink, st.queue.count == 1)
        }
        if first { sink?.engineStarted(id, task: a.task, at: SystemClock().now(), processGroup: nil) }
    }
    func cancel(_ task: TaskID, reason: CancelReason) {}
    func shutdown(graceful: Bool) {}
    var held: [TaskID] { s.withLock { $0.queue.map(\.task) } }
    /// Completes the first held task `ok` with `value` (nil: none, as a faulty worker may report).
    func finishFirst(value: (any Sendable)?) {
        let (id, sink, a, next) = s.withLock { st in (st.id, st.sink, st.queue.removeFirst(), st.queue.first) }
        let now = SystemClock().now()
        sink?.engineFinished(id, task: a.task, outcome: TaskOutcome(status: .ok, value: value, started: now, completed: now))
        if let next { sink?.engineStarted(id, task: next.task, at: now, processGroup: nil) }
    }
    func die(_ reason: String, neverStarted: Set<TaskID> = []) {
        let (id, sink) = s.withLock { st in (st.id, st.sink) }
        sink?.engineDied(id, reason: reason, neverStarted: neverStarted)
    }
    /// Completes the first held task as failed with `error`.
    func failFirst(_ error: String) {
        let (id, sink, a, next) = s.withLock { st in (st.id, st.sink, st.queue.removeFirst(), st.queue.first) }
        let now = SystemClock().now()
        sink?.engineFinished(id, task: a.task, outcome: TaskOutcome(status: .error, error: error, started: now, completed: now))
        if let next { sink?.engineStarted(id, task: next.task, at: now, processGroup: nil) }
    }
}

/// Polls `condition` up to `seconds`.
func eventually(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if condition() { return true }
        usleep(2000)
    }
    return condition()
}

/// True when no live (non-zombie) process is left in process group `pgid`.
/// (PID 1 in some sandboxes never reaps orphans, so killed grandchildren can linger as zombies.)
func processGroupGone(_ pgid: Int32) -> Bool { SystemFacts.processGroupGone(pgid) }
