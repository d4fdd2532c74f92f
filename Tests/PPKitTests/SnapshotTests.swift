import Testing
@testable import PPKit

@Suite("Snapshots: a window whose cost does not grow with the tasks")
struct SnapshotTests {
    func scheduler(tasks: Int) throws -> (Client, AsyncMapResult<Int>) {
        let client = makeClient(2)
        let ar = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: tasks))
        _ = ar.wait(timeout: 60)
        return (client, ar)
    }

    @Test("the default window touches only its rows, for 100 or 200,000 tasks")
    func flatCost() throws {
        var costs = [Int]()
        for n in [100, 200_000] {
            let (client, ar) = try scheduler(tasks: n)
            defer { client.shutdown() }
            #expect(ar.ready())
            let snap = client.scheduler.snapshot(TableQuery(offset: 40, limit: 30))
            #expect(snap.table.rows.count == 30)
            #expect(snap.table.rows.first?.id == TaskID(41))
            #expect(snap.table.total == n)
            #expect(snap.totals.ok == n)
            costs.append(client.scheduler.lastSnapshotCost)
        }
        #expect(costs[0] == costs[1])
    }

    @Test("a filter or another order costs O(N) once, then only the window")
    func indexOnce() throws {
        let (client, _) = try scheduler(tasks: 5000)
        defer { client.shutdown() }
        let q = TableQuery(sort: .engine, ascending: false, limit: 20)
        _ = client.scheduler.snapshot(q)
        #expect(client.scheduler.lastSnapshotCost >= 5000)
        _ = client.scheduler.snapshot(q)
        #expect(client.scheduler.lastSnapshotCost == 20)
        let f = client.scheduler.snapshot(TableQuery(filter: "e1", limit: 10))
        #expect(f.table.rows.allSatisfy { $0.engine == 1 })
        #expect(f.table.matching < 5000)
    }

    @Test("follow keeps the newest started task in view; descending order reverses")
    func followAndOrder() throws {
        let (client, _) = try scheduler(tasks: 300)
        defer { client.shutdown() }
        let follow = client.scheduler.snapshot(TableQuery(limit: 10, follow: true))
        #expect(follow.table.rows.last?.id == TaskID(300))
        let desc = client.scheduler.snapshot(TableQuery(ascending: false, limit: 5))
        #expect(desc.table.rows.first?.id == TaskID(300))
        let clamped = client.scheduler.snapshot(TableQuery(offset: 10_000, limit: 10))
        #expect(clamped.table.offset == 290)
    }

    @Test("engines and batches are counted")
    func counters() throws {
        let (client, ar) = try scheduler(tasks: 50)
        defer { client.shutdown() }
        let snap = client.scheduler.snapshot()
        #expect(snap.engines.count == 2)
        #expect(snap.engines.map(\.done).reduce(0, +) == 50)
        #expect(snap.batches.last?.id == ar.batch)
        #expect(snap.batches.last?.isDone == true)
        #expect(snap.batches.last?.progress == 50)
        #expect(snap.engines[0].activity.count == 12)
    }
}
