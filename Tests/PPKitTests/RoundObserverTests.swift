import Foundation
import Synchronization
import Testing

@testable import PPKit

@Suite("round observers")
struct RoundObserverTests {
    /// An event as a comparable key.
    static func key(_ e: SchedulerEvent) -> String {
        switch e {
        case .submitted(let t, let b): return "s\(t.rawValue)/\(b)"
        case .started(let t, let e, _, _): return "r\(t.rawValue)@\(e)"
        case .completed(let t, let b, let s): return "c\(t.rawValue)/\(b)/\(s)"
        case .engineAdded(let e): return "+\(e)"
        case .engineDied(let e, let r): return "-\(e) \(r)"
        }
    }

    @Test("a round observer gets every event in order, in rounds never empty, each round before the observers after it")
    func roundsComeFirstAndWhole() throws {
        let client = makeClient(4)
        defer { client.shutdown() }
        let scheduler = client.scheduler
        let rounds = Mutex<[[String]]>([])
        let byRound = Mutex<[String]>([])
        let byEvent = Mutex<[String]>([])
        let late = Counter()
        scheduler.addRoundObserver { events in
            let keys = events.map(Self.key)
            rounds.withLock { $0.append(keys) }
            byRound.withLock { $0 += keys }
        }
        scheduler.addObserver { e in
            // The round observer, added first, has seen this event (and its whole round) already.
            let seen = byRound.withLock { $0.count }
            let mine = byEvent.withLock { s -> Int in
                s.append(Self.key(e))
                return s.count
            }
            if seen < mine { late.increment() }
        }
        let n = 5_000
        let ar = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: n))
        #expect(ar.wait(timeout: 60))
        scheduler.flushEvents()
        let all = byRound.withLock { $0 }
        #expect(all.count == 3 * n, "submitted, started and completed of every task")
        #expect(all == byEvent.withLock { $0 }, "the same events in the same order")
        #expect(late.count == 0)
        #expect(rounds.withLock { $0.allSatisfy { !$0.isEmpty } })
        #expect(rounds.withLock { $0.count } < all.count, "some round held more than one event")
    }

    @Test("facts: one look-up for many tasks gives each task's record as metadata does")
    func factsMatchMetadata() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        let view = client.loadBalancedView()
        let a = try view.submit(builtins: Array(repeating: .noop, count: 300))
        struct Boom: Error {}
        let b = try view.mapAsync({ (x: Int) throws -> Int in
            if x % 7 == 0 { throw Boom() }
            return x
        }, 0..<100)
        #expect(a.wait(timeout: 30) && b.wait(timeout: 30))
        let ids = (1...400).map { TaskID($0) } + [TaskID(10_000)]
        let facts = client.scheduler.facts(ids)
        #expect(facts.count == ids.count)
        #expect(facts.last! == nil, "an unknown id")
        for (id, f) in zip(ids.dropLast(), facts) {
            let m = try #require(client.scheduler.metadata(id))
            let f = try #require(f)
            #expect(f.id == m.id && f.batch == m.batch && f.seq == m.seq && f.status == m.status)
            #expect(f.engine == m.engine && f.submitted == m.submitted && f.started == m.started)
            #expect(f.completed == m.completed && f.retries == m.retries && f.processGroup == m.processGroup)
            #expect(f.text == m.text && f.args == m.args)
            // A task with an error has extras: its record says more than the facts.
            #expect(f.hasExtras == (m.error != nil || m.exitStatus != nil || !m.stdout.bytes.isEmpty))
        }
        #expect(facts.prefix(300).allSatisfy { $0?.hasExtras == false && $0?.textIsShared == true })
        #expect(facts[300..<400].contains { $0?.hasExtras == true })
    }
}
