import Foundation
import Synchronization
import Testing
@testable import PPKit

@Suite("Scheduling: retries, dependencies, limits, engines")
struct SchedulingTests {
    @Test("a retry runs on an engine that has not failed the task")
    func retryElsewhere() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        let threads = Recorder<UInt>()
        let ar = try client.loadBalancedView().with { $0.retries = 1 }.applyAsync { () throws -> Int in
            threads.append(UInt(pthread_self()))
            if threads.all.count == 1 { throw Boom(n: 1) }
            return 1
        }
        #expect(try ar.get(timeout: 30) == 1)
        #expect(threads.all.count == 2)
        #expect(threads.all[0] != threads.all[1])
        #expect(ar.metadata(0)?.retries == 1)
    }

    @Test("with no other engine alive a retry falls back to the one that failed it, and never waits forever")
    func retryFallback() throws {
        let client = makeClient(1)
        defer { client.shutdown() }
        let attempts = Counter()
        let ar = try client.loadBalancedView().with { $0.retries = 2 }.applyAsync { () throws -> Int in
            if attempts.increment() <= 2 { throw Boom(n: 0) }
            return 3
        }
        #expect(try ar.get(timeout: 30) == 3)
        #expect(ar.metadata(0)?.retries == 2)
        let failing = try client.loadBalancedView().with { $0.retries = 2 }.applyAsync { () throws -> Int in throw Boom(n: 9) }
        #expect(throws: TaskFailure.self) { try failing.get(timeout: 30) }
        #expect(failing.metadata(0)?.retries == 2)
    }

    @Test("after: tasks start only once their dependencies finished")
    func after() throws {
        let client = makeClient(4)
        defer { client.shutdown() }
        let view = client.loadBalancedView()
        let first = try view.mapAsync({ (x: Int) -> Int in
            blockingSleep(0.1)
            return x
        }, 0..<2)
        let second = try view.with { $0.after = .successOnly(first.msgIds) }.mapAsync({ (x: Int) in x }, 0..<3)
        _ = try second.get(timeout: 30)
        let lastDone = first.metadata.compactMap(\.completed).max()!
        for m in second.metadata { #expect(m.started! >= lastDone) }
    }

    @Test("an impossible dependency fails the task with an error saying so; failure-only follows work")
    func impossible() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        let view = client.loadBalancedView()
        let bad = try view.applyAsync { () throws -> Int in throw Boom(n: 1) }
        _ = bad.wait(timeout: 30)
        let dependent = try view.with { $0.after = .successOnly(bad.msgIds) }.applyAsync { 1 }
        #expect(dependent.wait(timeout: 30))
        #expect(dependent.metadata(0)?.status == .error)
        #expect(dependent.metadata(0)?.error?.contains("impossible dependency") == true)
        let onFailure = try view.with { $0.after = .failureOnly(bad.msgIds) }.applyAsync { 2 }
        #expect(try onFailure.get(timeout: 30) == 2)
        #expect(throws: PPError.self) { try view.with { $0.after = .successOnly([TaskID(99_999)]) }.applyAsync { 1 } }
    }

    @Test("follow: a task runs on the engine where its dependency ran")
    func follow() throws {
        let client = makeClient(4)
        defer { client.shutdown() }
        let view = client.loadBalancedView()
        let a = try view.applyAsync { () -> Int in
            blockingSleep(0.05)
            return 1
        }
        _ = try a.get(timeout: 30)
        let engine = a.metadata(0)!.engine
        let followers = try view.with { $0.follow = .successOnly(a.msgIds) }.mapAsync({ (x: Int) in x }, 0..<6)
        _ = try followers.get(timeout: 30)
        for m in followers.metadata { #expect(m.engine == engine) }
    }

    @Test("the dependency timeout fails a task still waiting, as an error that says so")
    func dependencyTimeout() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        let view = client.loadBalancedView()
        let slow = try view.applyAsync { () -> Int in
            blockingSleep(5.0)
            return 1
        }
        defer { slow.abort() }
        let waiter = try view.with {
            $0.after = .successOnly(slow.msgIds)
            $0.dependencyTimeout = 0.1
        }.applyAsync { 2 }
        #expect(waiter.wait(timeout: 30))
        let m = try #require(waiter.metadata(0))
        #expect(m.status == .error)
        #expect(m.error?.contains("dependency timeout") == true)
        #expect(m.started == nil)
    }

    @Test("the run-time limit settles a blocking closure as timeout without waiting for it")
    func runTimeLimitBlocking() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        let ar = try client.loadBalancedView().with { $0.runTimeLimit = 0.1 }.applyAsync { () -> Int in
            blockingSleep(1.5)
            return 1
        }
        #expect(ar.wait(timeout: 1.2))
        #expect(ar.metadata(0)?.status == .timeout)
        #expect(throws: TaskFailure.self) { try ar.get() }
    }

    @Test("the run-time limit cancels an async closure")
    func runTimeLimitAsync() throws {
        let client = makeClient(1)
        defer { client.shutdown() }
        let ar = try client.loadBalancedView().with { $0.runTimeLimit = 0.1 }.applyAsync { () async throws -> Int in
            try await Task.sleep(nanoseconds: 20_000_000_000)
            return 1
        }
        #expect(ar.wait(timeout: 10))
        #expect(ar.metadata(0)?.status == .timeout)
        // The engine is free again.
        #expect(try client.loadBalancedView().apply { 5 } == 5)
    }

    @Test("bad flags are refused with a clear error")
    func badFlags() {
        let client = makeClient(1)
        defer { client.shutdown() }
        #expect(throws: PPError.self) { try client.loadBalancedView().with { $0.runTimeLimit = -1 }.applyAsync { 1 } }
        #expect(throws: PPError.self) { try client.loadBalancedView().with { $0.dependencyTimeout = -1 }.applyAsync { 1 } }
        #expect(throws: PPError.self) { try client.directView(targets: [7]).applyAsync { 1 } }
    }

    @Test("temporary flags are restored")
    func temporaryFlags() throws {
        let client = makeClient(1)
        defer { client.shutdown() }
        var view = client.loadBalancedView()
        view.withTemporaryFlags({ $0.retries = 5 }) { v in #expect(v.flags.retries == 5) }
        #expect(view.flags.retries == 0)
    }

    @Test("a direct view runs on its targets")
    func direct() throws {
        let client = makeClient(3)
        defer { client.shutdown() }
        let ar = try client.directView(targets: [1, 2]).mapAsync({ (x: Int) in x }, 0..<6)
        _ = try ar.get(timeout: 30)
        #expect(Set(ar.metadata.compactMap(\.engine)) == [1, 2])
    }

    @Test("engine death: tasks are retried elsewhere or failed with an engine error; queueStatus is true at once")
    func engineDeath() throws {
        let scheduler = Scheduler()
        let client = Client(scheduler: scheduler, engineFactory: { ManualEngine() })
        let e0 = ManualEngine()
        let e1 = ManualEngine()
        client.addEngine(e0)
        client.addEngine(e1)
        let retried = try client.directView(targets: [0]).applyAsync { 0 }
        let view = client.loadBalancedView().with { $0.retries = 1 }
        _ = view
        #expect(e0.held.count == 1)
        // A load-balanced task with a retry, placed on e1 (e0 is full).
        let lb = try client.loadBalancedView().with { $0.retries = 1 }.mapAsync({ (x: Int) in x }, [1])
        #expect(e1.held.count == 1)
        e1.die("killed by signal 9")
        // Retried on e0 once e0 is free.
        #expect(client.queueStatus().engines[1] == nil)
        #expect(client.ids == [0])
        e0.finishFirst(value: 0)
        #expect(try retried.get(timeout: 5) == 0)
        #expect(e0.held.count == 1)
        e0.finishFirst(value: 1)
        #expect(try lb.get(timeout: 5) == [1])
        #expect(lb.metadata(0)?.retries == 1)
        // Without retries: an engine error naming the engine, host, task and cause.
        let doomed = try client.loadBalancedView().applyAsync { 2 }
        e0.die("lost heartbeat")
        #expect(doomed.wait(timeout: 5))
        let err = doomed.metadata(0)?.error ?? ""
        #expect(err.contains("engine 0 (testhost) died: lost heartbeat"))
        #expect(err.contains("task \(doomed.msgIds[0])"))
        let snap = scheduler.read(batchLimit: 8)
        #expect(snap.engines.allSatisfy { !$0.state.isAlive })
    }

    @Test("pause stops dispatch; resume goes on")
    func pause() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        client.scheduler.isPaused = true
        let ar = try client.loadBalancedView().mapAsync({ (x: Int) in x }, 0..<4)
        blockingSleep(0.1)
        #expect(ar.progress == 0)
        #expect(client.queueStatus().unassigned == 4)
        client.scheduler.isPaused = false
        #expect(try ar.get(timeout: 30) == [0, 1, 2, 3])
    }

    @Test("removing an engine sends its queued work elsewhere")
    func removeEngine() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        try client.removeEngine(1)
        #expect(eventually { client.ids == [0] })
        let ar = try client.loadBalancedView().mapAsync({ (x: Int) in x }, 0..<5)
        _ = try ar.get(timeout: 30)
        #expect(Set(ar.metadata.compactMap(\.engine)) == [0])
        let id = try client.addEngine()
        #expect(id == 2)
    }

    @Test("events arrive in order: submitted, started, completed")
    func events() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        let log = Recorder<String>()
        client.scheduler.addObserver { e in
            switch e {
            case .submitted(let t, _): log.append("s\(t)")
            case .started(let t, _, _, _): log.append("r\(t)")
            case .completed(let t, _, let st): log.append("c\(t)\(st)")
            default: break
            }
        }
        let ar = try client.loadBalancedView().mapAsync({ (x: Int) in x }, 0..<10)
        _ = try ar.get(timeout: 30)
        #expect(eventually { log.all.count == 30 })
        for id in ar.msgIds {
            let s = log.all.firstIndex(of: "s\(id)")!
            let r = log.all.firstIndex(of: "r\(id)")!
            let c = log.all.firstIndex(of: "c\(id)ok")!
            #expect(s < r && r < c)
        }
    }
}
