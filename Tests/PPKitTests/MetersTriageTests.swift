import Foundation
import PPJSON
import PPSystem
import Synchronization
import Testing

@testable import PPKit

/// A stat line for `MeterSampler` tests (the fields it reads: ppid, utime, stime, rss).
private func stat(_ pid: Int32, parent: Int32, ticks: Int64, rssPages: Int64) -> ProcessStat {
    ProcessStat(
        pid: pid,
        text: "\(pid) (t) S \(parent) \(pid) \(pid) 0 -1 0 0 0 0 0 \(ticks) 0 0 0 20 0 1 0 1 0 \(rssPages) 0")!
}

@Suite("Resource meters and per-task resource use")
struct MetersTriageTests {
    @Test("a shell task's result carries cpu_user, cpu_system and max_rss (wait4), in the metadata and the JSON")
    func taskUsage() throws {
        let client = makeClient(1)
        defer { client.shutdown() }
        let ar = try client.loadBalancedView().submit(Sweep.parse(line: "dd if=/dev/zero of=/dev/null bs=8M count=8 2>/dev/null; : {} ::: 1"))
        _ = try? ar.get(timeout: 30)
        let m = try #require(ar.metadata(0))
        #expect(m.status == .ok)
        let u = try #require(m.usage)
        // Known only above the test process's own peak (Linux counts the spawner's memory in a vforked child's).
        if let peak = ResourceUsage.selfPeakRSS(), peak < 8 << 20 { #expect((u.maxRSSBytes ?? 0) >= 8 << 20, "\(u)") }
        let line = FlatTaskRecord(m).jsonLine()
        #expect(line.contains("\"cpu_user\":") && line.contains("\"cpu_system\":") && line.contains("\"max_rss\":"))
        let back = try #require(FlatTaskRecord(json: try JSONValue.parse(Array(line.utf8))))
        #expect(back.maxRSS == u.maxRSSBytes)
        #expect(abs((back.cpuUser ?? -1) - u.userSeconds) < 1e-5)
        // A closure task has no process: no figures, no keys.
        let closure = try client.loadBalancedView().applyAsync { () -> Int in 1 }
        _ = try closure.get(timeout: 30)
        let cm = try #require(closure.metadata(0))
        #expect(cm.usage == nil)
        #expect(!FlatTaskRecord(cm).jsonLine().contains("cpu_user"))
    }

    @Test("a record's resource keys out of range or of the wrong type are left out, never a trap")
    func badRecordKeys() throws {
        func record(_ text: String) throws -> FlatTaskRecord {
            try #require(FlatTaskRecord(json: try JSONValue.parse(Array(text.utf8))))
        }
        for bad in [
            #"{"id":"1","cpu_user":-1,"cpu_system":0,"max_rss":5}"#, #"{"id":"1","cpu_user":"x","cpu_system":0,"max_rss":5}"#,
            #"{"id":"1","cpu_user":1,"cpu_system":null,"max_rss":5}"#,
        ] {
            #expect(try record(bad).usage == nil, "\(bad)")
        }
        for unknownPeak in [
            #"{"id":"1","cpu_user":1,"cpu_system":0,"max_rss":-5}"#, #"{"id":"1","cpu_user":1,"cpu_system":0}"#,
            #"{"id":"1","cpu_user":1,"cpu_system":0,"max_rss":"5"}"#, #"{"id":"1","cpu_user":1,"cpu_system":0,"max_rss":null}"#,
        ] {
            let u = try record(unknownPeak).usage
            #expect(u?.userSeconds == 1 && u?.maxRSSBytes == nil, "\(unknownPeak)")
        }
        #expect(try record(#"{"id":"1","cpu_user":1,"cpu_system":0,"max_rss":5}"#).usage?.maxRSSBytes == 5)
    }

    @Test("the sampler: CPU% between two readings a second apart, memory summed over the tree, /proc read once a second")
    func sampler() {
        let now = Mutex(100.0)
        let ticks = Mutex<Int64>(0)
        let reads = Mutex(0)
        let hz = Int64(ProcessTreeUsage.ticksPerSecond)
        let s = MeterSampler(
            interval: 1, clock: { now.withLock { $0 } },
            processes: {
                reads.withLock { $0 += 1 }
                let t = ticks.withLock { $0 }
                return [stat(50, parent: 1, ticks: t, rssPages: 10), stat(51, parent: 50, ticks: t, rssPages: 5)]
            },
            hostLoad: { HostLoad(load1: 1, availableBytes: 2, totalBytes: 3, cpus: 4) })
        let first = s.meters(roots: [50])
        #expect(first.trees[50]?.taskCPUPercent == nil)  // one reading: no rate yet
        #expect(first.trees[50]?.taskRSSBytes == 15 * ProcessTreeUsage.pageSize)
        #expect(first.host?.cpus == 4)
        // Within the interval: no new read.
        _ = s.meters(roots: [50])
        #expect(reads.withLock { $0 } == 1)
        // One second later each process used half a second: the tree used 100% of a core.
        ticks.withLock { $0 = hz / 2 }
        now.withLock { $0 += 1 }
        let second = s.meters(roots: [50])
        #expect(abs((second.trees[50]?.taskCPUPercent ?? 0) - 100) < 1, "\(second)")
        #expect(reads.withLock { $0 } == 2)
        // A root never seen is read at once (a task just started), not a second later.
        _ = s.meters(roots: [50, 51])
        #expect(reads.withLock { $0 } == 3)
        #expect(s.meters(roots: []).trees.isEmpty)
    }

    @Test("engine meters: a local engine's running shell task is read from /proc; an idle one has the host only")
    func localEngineMeters() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        let go = "/tmp/ppdash-dashb-meter-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(go) }
        let ar = try client.loadBalancedView().submit(
            Sweep.parse(line: "i=0; while [ ! -e \(go) ] && [ $i -lt 3000 ]; do i=$((i+1)); sleep 0.01; done; : {} ::: 1"))
        let sampler = MeterSampler(interval: 0)
        var found: EngineMeters?
        let end = SystemTime.monotonicSeconds() + 20
        while SystemTime.monotonicSeconds() < end {
            let engines = client.scheduler.read(batchLimit: 0).engines
            let m = client.scheduler.engineMeters(engines, sampler: sampler)
            if let busy = engines.first(where: { $0.currentTask != nil }), let bm = m[busy.id], bm.taskRSSBytes != nil {
                found = bm
                let idle = engines.first { $0.currentTask == nil }!
                #expect(m[idle.id]?.taskRSSBytes == nil && m[idle.id]?.host != nil)
                break
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        _ = FileManager.default.createFile(atPath: go, contents: nil)
        _ = try? ar.get(timeout: 30)
        let f = try #require(found)
        #expect((f.taskRSSBytes ?? 0) > 0)
        #expect(f.host != nil)
    }

    @Test("a connected-in worker sends its host's load with its heartbeats (wire version 3); the engines' meters carry it")
    func workerLoadOverTheWire() throws {
        let connected = try ConnectedWorker()
        defer { connected.close() }
        let scheduler = connected.scheduler
        let sampler = MeterSampler(interval: 0)
        var host: HostLoad?
        let end = SystemTime.monotonicSeconds() + 20
        while SystemTime.monotonicSeconds() < end {
            let engines = scheduler.read(batchLimit: 0).engines
            if let e = engines.first, e.info.kind == .connected, let h = scheduler.engineMeters(engines, sampler: sampler)[e.id]?.host {
                host = h
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let h = try #require(host)
        #expect(h.totalBytes > 0 && h.cpus > 0)
    }

    @Test("failure records and excluding an engine: an excluded engine takes no new work until included again")
    func excludeAndFailures() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        try client.scheduler.setExcluded(0, true)
        #expect(client.scheduler.read(batchLimit: 0).engines[0].excluded)
        let ar = try client.loadBalancedView().submit(Sweep.parse(line: "echo oops >&2; exit {} ::: 3 3 4 0"))
        _ = try? ar.get(timeout: 30)
        #expect((0..<4).allSatisfy { ar.metadata($0)?.engine == 1 })
        let f = client.scheduler.failureRecords()
        #expect(f.count == 3)
        #expect(f.allSatisfy { $0.firstLine == "oops" && $0.engine == 1 })
        #expect(f.map(\.exitStatus) == [3, 3, 4])
        try client.scheduler.setExcluded(0, false)
        try client.scheduler.setExcluded(1, true)
        let again = try client.loadBalancedView().submit(Sweep.parse(line: "true {} ::: 1 2"))
        _ = try again.get(timeout: 30)
        #expect((0..<2).allSatisfy { again.metadata($0)?.engine == 0 })
        #expect(throws: PPError.self) { try client.scheduler.setExcluded(7, true) }
    }
}
