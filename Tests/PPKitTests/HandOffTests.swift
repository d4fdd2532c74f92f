import Foundation
import Synchronization
import Testing
@testable import PPKit

@Suite("an idle in-process engine's task starts as it is handed over")
struct HandOffTests {
    @Test("a closure handed to an idle in-process engine is running as submit returns, and started once")
    func startedAtHandOff() throws {
        let scheduler = Scheduler()
        let client = Client(scheduler: scheduler, engineFactory: { InProcessEngine() })
        defer { client.shutdown() }
        for _ in 0..<2 { client.addEngine(InProcessEngine()) }
        let starts = Mutex([TaskID: Int]())
        scheduler.addObserver { e in
            if case .started(let t, _, _, _) = e { starts.withLock { $0[t, default: 0] += 1 } }
        }
        let go = Counter()
        defer { go.increment() }
        let ar = try client.loadBalancedView().mapAsync({ (x: Int) -> Int in
            for _ in 0..<3000 where go.count == 0 { usleep(2000) }
            return x
        }, [1, 2])
        // No wait: the scheduler marked them started as it handed them to the idle engines' threads.
        #expect(ar.metadata.map(\.status) == [.running, .running])
        #expect(ar.metadata.allSatisfy { $0.started != nil })
        go.increment()
        #expect(try ar.get(timeout: 10) == [1, 2])
        scheduler.flushEvents()
        #expect(starts.withLock { $0.values.sorted() } == [1, 1], "one start event per task")
    }

    @Test("a task queued behind a running one on the same engine is not started until its turn")
    func queuedNotStarted() throws {
        let scheduler = Scheduler()
        let client = Client(scheduler: scheduler, engineFactory: { InProcessEngine() })
        defer { client.shutdown() }
        client.addEngine(InProcessEngine(highWaterMark: 2))
        let go = Counter()
        defer { go.increment() }
        let ar = try client.loadBalancedView().mapAsync({ (x: Int) -> Int in
            for _ in 0..<3000 where go.count == 0 { usleep(2000) }
            return x
        }, [1, 2])
        #expect(ar.metadata.map(\.status) == [.running, .pending], "the second waits in the engine's queue")
        go.increment()
        #expect(try ar.get(timeout: 10) == [1, 2])
        #expect(ar.metadata.allSatisfy { $0.started != nil && $0.status == .ok })
    }

    @Test("a shell task is started by its spawn, not at hand-off")
    func shellStartsAtSpawn() throws {
        let scheduler = Scheduler()
        let client = Client(scheduler: scheduler, engineFactory: { InProcessEngine() })
        defer { client.shutdown() }
        client.addEngine(InProcessEngine())
        let template = try Template("true")
        let ar = try client.loadBalancedView().submit(shellTasks: [ShellTask(template: template, args: [], seq: 1)], label: "t")
        #expect(try ar.get(timeout: 10).map(\.exitStatus) == [0])
        #expect(ar.metadata[0].processGroup != nil, "the start came from the spawn (it carries the process group)")
    }
}
