import Foundation
import Synchronization
import Testing
@testable import PPKit

/// Cases a review of the scheduler found; each once misbehaved.
@Suite("Scheduler edge cases")
struct RegressionTests {
    @Test("get() while the user retries a failed task never crashes: it waits for the reopened batch")
    func getDuringRetry() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        let flips = Counter()
        let ar = try client.loadBalancedView().applyAsync { () throws -> Int in
            if flips.increment() % 2 == 1 { throw Boom(n: 1) }
            return 1
        }
        _ = ar.wait(timeout: 10)
        let reader = Thread {
            for _ in 0..<300 { _ = try? ar.get(timeout: 5) }
        }
        reader.start()
        for _ in 0..<300 {
            try? client.scheduler.retry(task: ar.msgIds[0])
            _ = ar.wait(timeout: 5)
        }
        #expect(ar.ready())
    }

    @Test("a direct-view task aborted and retried runs once, on its target")
    func pinnedRetryRunsOnce() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        let runs = Recorder<Int>()
        let view = client.directView(targets: [1])
        let blocker = try view.applyAsync { () -> Int in
            blockingSleep(0.3)
            return 0
        }
        let task = try view.applyAsync { () -> Int in
            runs.append(1)
            return 1
        }
        task.abort()
        try client.scheduler.retry(task: task.msgIds[0])
        #expect(try task.get(timeout: 10) == 1)
        _ = blocker.wait(timeout: 10)
        blockingSleep(0.2)
        #expect(runs.all.count == 1)
        #expect(task.metadata(0)?.engine == 1)
    }

    @Test("a failed direct-view task retried by the user stays on its target")
    func retryKeepsTarget() throws {
        let client = makeClient(3)
        defer { client.shutdown() }
        let attempts = Counter()
        let ar = try client.directView(targets: [2]).applyAsync { () throws -> Int in
            if attempts.increment() == 1 { throw Boom(n: 0) }
            return 5
        }
        _ = ar.wait(timeout: 10)
        try client.scheduler.retry(task: ar.msgIds[0])
        #expect(try ar.get(timeout: 10) == 5)
        #expect(ar.metadata(0)?.engine == 2)
    }

    @Test("follow plus retries on the only followed engine ends instead of waiting forever")
    func followRetryEnds() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        let view = client.loadBalancedView()
        let a = try view.applyAsync { 1 }
        _ = try a.get(timeout: 10)
        let b = try view.with {
            $0.follow = .successOnly(a.msgIds)
            $0.retries = 2
        }.applyAsync { () throws -> Int in throw Boom(n: 2) }
        #expect(b.wait(timeout: 10))
        #expect(b.metadata(0)?.retries == 2)
        #expect(b.metadata(0)?.engine == a.metadata(0)?.engine)
    }

    @Test("a direct view cannot target an engine being removed")
    func drainingTarget() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        try client.removeEngine(1)
        #expect(throws: PPError.self) { try client.directView(targets: [1]).applyAsync { 1 } }
    }

    @Test("serial time counts a retried task's last run only")
    func serialTimeAfterRetry() throws {
        let client = makeClient(1)
        defer { client.shutdown() }
        let attempts = Counter()
        let ar = try client.loadBalancedView().applyAsync { () throws -> Int in
            blockingSleep(0.2)
            if attempts.increment() == 1 { throw Boom(n: 0) }
            return 1
        }
        _ = ar.wait(timeout: 10)
        try client.scheduler.retry(task: ar.msgIds[0])
        _ = try ar.get(timeout: 10)
        #expect(try ar.serialTime < 0.35)
    }

    @Test("retryFailed reruns exactly the failed tasks of a batch and says how many")
    func retryFailedBatch() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        let attempts = Recorder<Int>()
        let ar = try client.loadBalancedView().mapAsync({ (x: Int) throws -> Int in
            attempts.append(x)
            if x % 2 == 1 && attempts.all.filter({ $0 == x }).count == 1 { throw Boom(n: x) }
            return x
        }, 0..<4)
        _ = ar.wait(timeout: 10)
        #expect(ar.counts.error == 2)
        #expect(try client.scheduler.retryFailed(batch: ar.batch) == 2)
        #expect(try ar.get(timeout: 10) == [0, 1, 2, 3])
        #expect(attempts.all.count == 6)
        #expect(throws: PPError.self) { try client.scheduler.retryFailed(batch: 999) }
    }
}
