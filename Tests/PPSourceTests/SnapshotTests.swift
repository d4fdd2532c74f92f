import PPKit
import Testing

@testable import PPSource

@Suite("Snapshots: a window whose cost does not grow with the tasks")
struct SnapshotTests {
    func scheduler(tasks: Int) throws -> (LocalSource, AsyncMapResult<Int>) {
        let client = Client(engines: 2)
        let ar = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: tasks))
        _ = ar.wait(timeout: 60)
        return (LocalSource(client: client), ar)
    }

    @Test("local engines carry their host's meters in the default view and in a sorted one")
    func hostMeters() throws {
        let (source, _) = try scheduler(tasks: 10)
        defer { source.stopAll() }
        for query in [TableQuery(limit: 10), TableQuery(sort: .duration, limit: 10)] {
            let snap = source.snapshot(query)
            #expect(!snap.engines.isEmpty)
            #expect(snap.engines.allSatisfy { $0.meters?.host != nil }, "\(query.sort): \(snap.engines.map(\.meters))")
        }
    }

    @Test("the default window touches only its rows, for 100 or 200,000 tasks")
    func flatCost() throws {
        var costs = [Int]()
        for n in [100, 200_000] {
            let (client, ar) = try scheduler(tasks: n)
            defer { client.stopAll() }
            #expect(ar.ready())
            let snap = client.snapshot(TableQuery(offset: 40, limit: 30))
            #expect(snap.table.rows.count == 30)
            #expect(snap.table.rows.first?.id == TaskID(41))
            #expect(snap.table.total == n)
            #expect(snap.totals.ok == n)
            costs.append(client.lastSnapshotCost)
        }
        #expect(costs[0] == costs[1])
    }

    @Test("a filter or another order costs O(N) once, then only the window")
    func indexOnce() throws {
        let (client, _) = try scheduler(tasks: 5000)
        defer { client.stopAll() }
        let q = TableQuery(sort: .engine, ascending: false, limit: 20)
        _ = client.snapshot(q)
        #expect(client.lastSnapshotCost >= 5000)
        _ = client.snapshot(q)
        #expect(client.lastSnapshotCost == 20)
        let f = client.snapshot(TableQuery(filter: "e1", limit: 10))
        #expect(f.table.rows.allSatisfy { $0.engine == 1 })
        #expect(f.table.matching < 5000)
    }

    @Test("follow keeps the newest started task in view; descending order reverses")
    func followAndOrder() throws {
        let (client, _) = try scheduler(tasks: 300)
        defer { client.stopAll() }
        let follow = client.snapshot(TableQuery(limit: 10, follow: true))
        #expect(follow.table.rows.last?.id == TaskID(300))
        let desc = client.snapshot(TableQuery(ascending: false, limit: 5))
        #expect(desc.table.rows.first?.id == TaskID(300))
        let clamped = client.snapshot(TableQuery(offset: 10_000, limit: 10))
        #expect(clamped.table.offset == 290)
    }

    @Test("engines and batches are counted")
    func counters() throws {
        let (client, ar) = try scheduler(tasks: 50)
        defer { client.stopAll() }
        let snap = client.snapshot(TableQuery())
        #expect(snap.engines.count == 2)
        #expect(snap.engines.map(\.done).reduce(0, +) == 50)
        #expect(snap.batches.last?.id == ar.batch)
        #expect(snap.batches.last?.isDone == true)
        #expect(snap.batches.last?.progress == 50)
        #expect(snap.engines[0].activity.count == 12)
    }

    @Test("a filtered table over 20,000 tasks follows status changes")
    func bigFilteredTable() throws {
        let client = Client(engines: 2)
        defer { client.shutdown() }
        let source = LocalSource(client: client)
        client.scheduler.isPaused = true
        let ar = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: 25_000))
        let before = source.snapshot(TableQuery(filter: "pending", limit: 10))
        #expect(before.table.matching == 25_000)
        client.scheduler.isPaused = false
        #expect(ar.wait(timeout: 60))
        let after = source.snapshot(TableQuery(filter: "pending", limit: 10))
        #expect(after.table.matching == 0)
        let ok = source.snapshot(TableQuery(filter: "ok", limit: 10))
        #expect(ok.table.matching == 25_000)
        // Unchanged since: the next frame costs only its rows.
        _ = source.snapshot(TableQuery(filter: "ok", limit: 10))
        #expect(source.lastSnapshotCost == 10)
    }
}
