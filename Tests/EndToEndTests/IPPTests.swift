// `ppdash ipp` against a real IPython Parallel 9.2.0 cluster (a venv that .ci/run makes; PPDASH_IPP_PYTHON names
// its python). Without it the test is skipped with a message.
import Foundation
import PPIPP
import PPSystem
import Testing

import Glibc

private let ippPython = ProcessInfo.processInfo.environment["PPDASH_IPP_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }

@Suite("ipyparallel cluster", .endToEndSlot, .serialized)
struct IPPTests {
    /// A cluster of 2 engines in its own IPYTHONDIR.
    final class Cluster: Sendable {
        let python: String
        let bin: String
        let dir: String
        var env: [String: String?] { ["IPYTHONDIR": dir, "PPDASH_IPP_PYTHON": python, "PYTHONUNBUFFERED": "1"] }

        init(python: String) {
            self.python = python
            bin = URL(fileURLWithPath: python).deletingLastPathComponent().path
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("ppdash-ipp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }

        func python(_ script: String, timeout: Double = 60) async -> RunResult {
            let path = dir + "/script-\(UInt32.random(in: 0...UInt32.max)).py"
            _ = FileManager.default.createFile(atPath: path, contents: Data(script.utf8))
            return await run([python, path], env: env, timeout: timeout)
        }

        /// `ipcluster stop`, then SIGKILL to any process still carrying this cluster's IPYTHONDIR.
        func stop() {
            _ = runBlocking([bin + "/ipcluster", "stop"], env: env, timeout: 20)
            for pid in leftovers() { kill(pid, SIGKILL) }
            try? FileManager.default.removeItem(atPath: dir)
        }

        func leftovers() -> [pid_t] {
            let me = getpid()
            let needle = Array("IPYTHONDIR=\(dir)\0".utf8)
            return SystemFacts.allPids().compactMap { pid in
                guard pid != me, let env = SystemFacts.contents(of: "/proc/\(pid)/environ") else { return nil }
                let bytes = Array(env)
                guard bytes.count >= needle.count else { return nil }
                for i in 0...(bytes.count - needle.count) where (i == 0 || bytes[i - 1] == 0) && bytes[i] == needle[0] {
                    if Array(bytes[i..<(i + needle.count)]) == needle { return pid }
                }
                return nil
            }
        }
    }

    static func json(_ s: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(s.utf8))) as? [String: Any]
    }

    @Test(
        "ppdash ipp --json sees a real cluster's engines and the recipe's 20 tasks; --submit runs a shell batch that Python's db_query sees",
        .enabled(if: ippPython != nil, "PPDASH_IPP_PYTHON is not set: no ipyparallel venv (.ci/run makes one); skipped"),
        .timeLimit(.minutes(4)))
    func realCluster() async throws {
        let cluster = Cluster(python: ippPython!)
        defer { cluster.stop() }
        let start = await run([cluster.bin + "/ipcluster", "start", "-n", "2", "--daemonize"], env: cluster.env, timeout: 60)
        try #require(start.exitCode == 0, "ipcluster start failed: \(start)")

        // The cookbook recipe, from Python: map_async of a sleeping square over range(20).
        let recipe = await cluster.python(
            """
            import ipyparallel as ipp, json
            rc = ipp.Client()
            rc.wait_for_engines(2, timeout=60)
            view = rc.load_balanced_view()
            def sleep_square(x):
                import time
                time.sleep(0.05)
                return x * x
            ar = view.map_async(sleep_square, range(20))
            print(json.dumps({"msg_ids": ar.msg_ids, "results": ar.get(timeout=60)}))
            """)
        try #require(recipe.exitCode == 0, "recipe failed: \(recipe)")
        let expected = try #require(Self.json(recipe.outLines.last ?? ""))
        let ids = try #require(expected["msg_ids"] as? [String])
        #expect(ids.count == 20)

        // The hub records results a moment after the client gets them: poll until all 20 are complete.
        var doc: [String: Any] = [:]
        var tasks: [String: [String: Any]] = [:]
        for _ in 0..<40 {
            let r = await PPDash.run(["ipp", "--json"], env: cluster.env, timeout: 30)
            try #require(r.exitCode == 0, "ppdash ipp --json failed: \(r)")
            doc = try #require(Self.json(r.out), "not JSON: \(r)")
            let list = doc["tasks"] as? [[String: Any]] ?? []
            tasks = Dictionary(list.compactMap { t in (t["msg_id"] as? String).map { ($0, t) } }, uniquingKeysWith: { a, _ in a })
            if ids.allSatisfy({ tasks[$0]?["received"] is String }) { break }
            try await Task.sleep(nanoseconds: 250_000_000)
        }
        let engines = doc["engines"] as? [[String: Any]] ?? []
        #expect(engines.count == 2)
        #expect(engines.allSatisfy { ($0["state"] as? String) != "dead" && $0["uuid"] is String })
        for (k, id) in ids.enumerated() {
            let t = try #require(tasks[id], "task \(id) missing from ppdash ipp --json")
            #expect(t["status"] as? String == "ok")
            for stamp in ["submitted", "started", "completed", "received"] {
                #expect(t[stamp] is String, "\(stamp) missing for \(id)")
            }
            #expect(t["engine"] is Int)
            // A map chunk of one item returns [x*x].
            #expect((t["result"] as? [Int]) == [k * k], "result of \(id): \(t["result"] ?? "nil")")
            #expect((t["call"] as? String) == "sleep_square(\(k))")
        }
        let batches = doc["batches"] as? [[String: Any]] ?? []
        #expect(batches.contains { ($0["total"] as? Int) == 20 && ($0["done"] as? Int) == 20 })

        // A shell batch from ppdash, through the load-balanced scheduler.
        let submit = await PPDash.run(["ipp", "--submit", "echo hi {}; exit {} ::: 0 3"], env: cluster.env, timeout: 60)
        #expect(submit.exitCode == 1, "one task exits 3: \(submit)")
        let lines = submit.outLines.compactMap(Self.json)
        try #require(lines.count == 2, "\(submit)")
        #expect(lines[0]["status"] as? String == "ok")
        #expect(lines[0]["stdout"] as? String == "hi 0\n")
        #expect(lines[1]["status"] as? String == "error")
        #expect(lines[1]["exit"] as? Int == 3)
        let submitted = lines.compactMap { $0["msg_id"] as? String }

        // Python's db_query sees them, finished.
        let query = await cluster.python(
            """
            import ipyparallel as ipp, json, time
            rc = ipp.Client()
            ids = \(submitted)
            for _ in range(40):
                recs = rc.db_query({'msg_id': {'$in': ids}}, keys=['msg_id', 'completed', 'result_content'])
                if len(recs) == len(ids) and all(r['completed'] for r in recs):
                    break
                time.sleep(0.25)
            print(json.dumps(sorted(r['result_content']['status'] for r in recs)))
            """)
        #expect(query.exitCode == 0, "\(query)")
        #expect(query.outLines.last == #"["ok", "ok"]"#, "\(query)")

        // A wrong key: the hub ignores the requests; ppdash says so.
        let file = cluster.dir + "/profile_default/security/ipcontroller-client.json"
        let good = try String(contentsOfFile: file, encoding: .utf8)
        let bad = cluster.dir + "/bad-client.json"
        let badText = try #require(good.range(of: "\"key\": \"")).upperBound
        try (String(good[..<badText]) + "0" + String(good[badText...])).write(toFile: bad, atomically: true, encoding: .utf8)
        let wrong = await PPDash.run(["ipp", bad, "--json"], env: cluster.env, timeout: 30)
        #expect(wrong.exitCode == 1)
        #expect(wrong.err.contains("signature mismatch"), "\(wrong)")

        // The controller gone (ipcluster stop deletes the connection file: keep a copy): a visible retry, then a
        // clear failure.
        let kept = cluster.dir + "/kept-client.json"
        try good.write(toFile: kept, atomically: true, encoding: .utf8)
        _ = await run([cluster.bin + "/ipcluster", "stop"], env: cluster.env, timeout: 30)
        let gone = await PPDash.run(["ipp", kept, "--json", "--timeout", "3"], env: cluster.env, timeout: 30)
        #expect(gone.exitCode == 1)
        #expect(gone.err.contains("not answering"), "\(gone)")
    }

    /// Waits up to `timeout` seconds for `ppdash ipp --json` to list `n` live engines.
    static func waitForEngines(_ cluster: Cluster, _ n: Int, timeout: Double) async -> Bool {
        let end = now() + timeout
        while now() < end {
            let r = await PPDash.run(["ipp", "--json", "--timeout", "5"], env: cluster.env, timeout: 20)
            let engines = json(r.out)?["engines"] as? [[String: Any]] ?? []
            if engines.filter({ ($0["state"] as? String) != "dead" }).count >= n { return true }
            try? await Task.sleep(for: .milliseconds(250))
        }
        return false
    }

    @Test(
        "ppdash ipp tells the truth: a --submit batch keeps its label; a stopped controller is gone, its tasks lost, submissions refused; a new cluster is followed",
        .enabled(if: ippPython != nil, "PPDASH_IPP_PYTHON is not set: no ipyparallel venv (.ci/run makes one); skipped"),
        .enabled(if: Tmux.available, "tmux is not installed; skipped"),
        .timeLimit(.minutes(4)))
    func controllerGoneAndBack() async throws {
        let cluster = Cluster(python: ippPython!)
        defer { cluster.stop() }
        let bin = try #require(PPDash.path, Comment(rawValue: PPDash.notFound))
        let start = await run([cluster.bin + "/ipcluster", "start", "-n", "1", "--daemonize"], env: cluster.env, timeout: 60)
        try #require(start.exitCode == 0, "ipcluster start failed: \(start)")
        try #require(await Self.waitForEngines(cluster, 1, timeout: 40), "the engine never registered")

        let vars = (cluster.env.compactMap { k, v in v.map { "\(k)=\(shellQuote($0))" } }
            + ["LANG=C.UTF-8", "LC_ALL=C.UTF-8", "SWIFT_BACKTRACE=interactive=no"]).joined(separator: " ")
        let (t, tr) = await Tmux.start("exec env \(vars) \(shellQuote(bin)) ipp", width: 170, height: 30)
        defer { t.kill() }
        try #require(tr.exitCode == 0, "tmux: \(tr)")
        var w = await t.waitFor("engines 0/1 busy", timeout: 20)
        try #require(w.ok, "the dashboard never showed the engine: \(show(w.screen))")
        // --follow watches all of it too, as JSON Lines.
        let follow = try #require(PPDash.start(["ipp", "--follow"], env: cluster.env, timeout: 110))
        defer { follow.signal(SIGKILL) }

        // 4. A --submit batch, watched live by the dashboard: labelled with its template, with its real elapsed
        // time (fast tasks used to show as "tasks", 0ms, 3000/s: their first record lacked label and submitted).
        let quick = await PPDash.run(["ipp", "--submit", "echo {} ::: 1 2 3"], env: cluster.env, timeout: 30)
        #expect(quick.exitCode == 0, "\(quick)")
        #expect(quick.err.contains("batch 1 (echo {}): 3 tasks, 3 ok, 0 failed in "), "\(quick)")
        let quickRows = quick.outLines.compactMap(Self.json)
        #expect(quickRows.count == 3 && quickRows.allSatisfy { ($0["label"] as? String) == "echo {}" }, "\(quick)")
        // The tasks show done at once from IOPub; the label comes with their records within a cycle.
        w = await t.waitUntil(timeout: 10) { $0.contains { $0.contains("#1 echo {}") && $0.contains("3/3") } }
        let line = w.screen.first { $0.contains("#1 ") } ?? ""
        #expect(line.contains("#1 echo {}"), "batch label: \(show(w.screen))")
        #expect(!line.contains(" 0ms "), "batch elapsed: \(show(w.screen))")

        // A controller that stops answering (every controller process stopped) is "not answering"; a batch sent
        // then is queued on sockets that are reopened at the next retry, so it never reaches the hub: once the
        // controller answers again it is marked lost, not left pending forever.
        let controller = cluster.leftovers().filter { pid in
            SystemFacts.contents(of: "/proc/\(pid)/cmdline").map { String(decoding: $0, as: UTF8.self).contains("ipyparallel.controller") } ?? false
        }
        try #require(!controller.isEmpty, "no controller process found")
        for pid in controller { kill(pid, SIGSTOP) }
        w = await t.waitFor("NOT ANSWERING, retry 1", timeout: 10)
        await t.sendKeys("s")
        _ = await t.waitFor("TEMPLATE", timeout: 5)
        await t.type("echo {} ::: dropped")
        await t.sendKeys("Enter")
        let sent = await t.waitFor("batch 2 submitted", timeout: 5)
        w = await t.waitFor("NOT ANSWERING, retry 2", timeout: 10)
        for pid in controller { kill(pid, SIGCONT) }
        #expect(sent.ok && w.ok, "\(show(w.screen))")
        w = await t.waitUntil(timeout: 15) { s in s.contains { $0.contains("echo dropped") && $0.contains(" error ") } }
        #expect(w.ok, "a batch that never reached the controller: \(show(w.screen))")
        #expect(w.screen.first?.contains("GONE") == false, "\(show(w.screen))")

        // A batch that outlives its controller: one task runs on the one engine, two wait.
        let slow = try #require(
            PPDash.start(["ipp", "--submit", "sleep 60; echo {} ::: a b c"], env: cluster.env, timeout: 60))
        w = await t.waitFor("running 1  pending 2", timeout: 20)
        try #require(w.ok, "the slow batch never ran: \(show(w.screen))")

        // 1. ipcluster stop: the header says gone and the engine is dead (unknown), within a few seconds.
        let stop = await run([cluster.bin + "/ipcluster", "stop"], env: cluster.env, timeout: 30)
        let stopAt = now()
        #expect(stop.exitCode == 0, "\(stop)")
        w = await t.waitUntil(timeout: 12) { s in
            s.first?.contains("CONTROLLER GONE") == true && s.contains { $0.contains(" dead ") && $0.contains("controller gone") }
        }
        #expect(w.ok, "not shown as gone: \(show(w.screen))")
        let detected = now() - stopAt
        // The tasks it held are lost: failed with the reason, never pending forever.
        w = await t.waitFor("pending 0", timeout: 5)
        #expect(w.ok && w.screen.contains { $0.contains("failed 4") }, "\(show(w.screen))")
        let lost = await slow.wait()
        #expect(lost.exitCode == 1, "\(lost)")
        let rows = lost.outLines.compactMap(Self.json)
        #expect(rows.count == 3, "\(lost)")
        #expect(rows.allSatisfy { ($0["status"] as? String) == "error" && (($0["error"] as? String) ?? "").hasPrefix("controller gone") }, "\(lost)")
        #expect(lost.err.contains("is gone"), "\(lost)")

        // 2. A submission while it is gone says why and leaves nothing pending.
        await t.sendKeys("s")
        _ = await t.waitFor("TEMPLATE", timeout: 5)
        await t.type("echo {} ::: x")
        await t.sendKeys("Enter")
        w = await t.waitFor("submit failed, nothing submitted: the controller", timeout: 5)
        #expect(w.ok, "\(show(w.screen))")
        #expect(w.screen.contains { $0.contains("pending 0") }, "\(show(w.screen))")

        // 3. A new cluster at the same profile: the view follows it, and submissions run there.
        let again = await run([cluster.bin + "/ipcluster", "start", "-n", "1", "--daemonize"], env: cluster.env, timeout: 60)
        try #require(again.exitCode == 0, "ipcluster start failed: \(again)")
        w = await t.waitUntil(timeout: 40) { s in
            s.first.map { !$0.contains("GONE") && $0.contains("engines 0/1 busy") } ?? false
        }
        #expect(w.ok, "the view did not follow the new cluster: \(show(w.screen))")
        await t.sendKeys("s")
        _ = await t.waitFor("TEMPLATE", timeout: 5)
        await t.type("echo {} ::: again")
        await t.sendKeys("Enter")
        w = await t.waitUntil(timeout: 20) { s in s.contains { $0.contains("echo again") && $0.contains(" ok ") } }
        #expect(w.ok, "a submission to the new cluster did not run: \(show(w.screen))")
        print(
            "ipcluster stop took \(String(format: "%.1f", stop.elapsed)) s; the controller was shown gone "
                + "\(String(format: "%.1f", detected)) s after it returned")

        // --follow said so: the controller gone (why), then connected again at the new cluster's address.
        follow.signal(SIGTERM)
        let f = await follow.wait()
        let events = f.outLines.compactMap(Self.json).filter { ($0["event"] as? String) == "controller" }
        let states = events.map { "\($0["state"] ?? "?") \($0["reason"] as? String ?? "")" }
        #expect(states.contains("gone cluster stopped"), "\(states)\n\(f)")
        let urls = Set(events.compactMap { $0["controller"] as? String })
        #expect(urls.count == 2 && (events.last?["state"] as? String) == "connected", "\(events)")
    }

    /// Polls `cond` every 100 ms until it holds or `seconds` pass (never a fixed sleep).
    static func until(_ seconds: Double, _ cond: () -> Bool) async -> Bool {
        let end = now() + seconds
        while now() < end {
            if cond() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return cond()
    }

    @Test(
        "ppdash ipp keeps up from IOPub: a flood of 300 no-op tasks shows done with the hub asked nothing; records then name every call in at most 2 queries a cycle",
        .enabled(if: ippPython != nil, "PPDASH_IPP_PYTHON is not set: no ipyparallel venv (.ci/run makes one); skipped"),
        .timeLimit(.minutes(3)))
    func keepsUpFromIOPub() async throws {
        let cluster = Cluster(python: ippPython!)
        defer { cluster.stop() }
        let start = await run([cluster.bin + "/ipcluster", "start", "-n", "2", "--daemonize"], env: cluster.env, timeout: 60)
        try #require(start.exitCode == 0, "ipcluster start failed: \(start)")
        try #require(await Self.waitForEngines(cluster, 2, timeout: 60), "the engines never registered")
        let info = try ConnectionInfo.load(path: cluster.dir + "/profile_default/security/ipcontroller-client.json")

        // One watcher asks the hub only for its first load (its next cycle is a day away): whatever it shows of the
        // flood, it learned from IOPub. The other runs with the defaults.
        var quiet = IPPSource.Options()
        quiet.interval = 86_400
        quiet.assignedEvery = 86_400
        quiet.sweepEvery = 86_400
        let iopubOnly = try IPPSource(info: info, options: quiet)
        defer { iopubOnly.stop() }
        let watcher = try IPPSource(info: info)
        defer { watcher.stop() }
        try #require(await Self.until(30) { iopubOnly.syncs >= 1 && watcher.syncs >= 1 }, "no first load")
        let before = iopubOnly.requestCounts
        // `--follow` watches too, writing its stage timestamps (PPDASH_IPP_TRACE, what bench/ipp_keepup.py --trace
        // reads).
        let trace = cluster.dir + "/follow.trace"
        let follow = try #require(
            PPDash.start(["ipp", "--follow"], env: cluster.env.merging(["PPDASH_IPP_TRACE": trace]) { $1 }, timeout: 170))
        defer { follow.signal(SIGKILL) }
        try #require(
            await Self.until(30) { String(decoding: SystemFacts.contents(of: trace) ?? [], as: UTF8.self).contains("turn ") },
            "--follow never connected")

        let flood = await cluster.python(
            """
            import ipyparallel as ipp, json
            rc = ipp.Client()
            view = rc.load_balanced_view()
            def noop(x):
                return x
            ars = [view.map_async(noop, range(k * 100, k * 100 + 100), chunksize=1) for k in range(3)]
            for ar in ars:
                ar.get(timeout=120)
            print(json.dumps([m for ar in ars for m in ar.msg_ids]))
            """, timeout: 150)
        try #require(flood.exitCode == 0, "the flood failed: \(flood)")
        let ids = try #require(
            (try? JSONSerialization.jsonObject(with: Data((flood.outLines.last ?? "").utf8))) as? [String], "\(flood)")
        #expect(ids.count == 300)

        func finished(_ s: IPPSource) -> Int {
            let m = s.mirror
            return ids.filter { m.row(msgId: $0)?.status == .ok }.count
        }
        #expect(await Self.until(60) { finished(iopubOnly) == ids.count }, "IOPub showed \(finished(iopubOnly)) of 300 done")
        let after = iopubOnly.requestCounts
        #expect(after.db == before.db && after.connection == before.connection, "asked the hub: \(before) -> \(after)")
        #expect(after.iopub - before.iopub >= 2 * ids.count, "busy and idle per task: \(before) -> \(after)")
        let m = iopubOnly.mirror
        let incomplete = ids.filter { id in
            guard let r = m.row(msgId: id) else { return true }
            return r.engine == nil || r.started == nil || r.completed == nil || r.session == nil
        }
        #expect(incomplete.isEmpty, "rows without engine, start, completion or session: \(incomplete.count)")

        // The default watcher: the hub's records name each call, and cost a bounded number of queries per cycle
        // (2, the assigned tasks every 4th, a sweep every 20th), not one per task.
        func named(_ s: IPPSource) -> Int {
            let m = s.mirror
            return ids.filter { id in m.row(msgId: id).map { $0.text.hasPrefix("noop(") && $0.status == .ok } ?? false }.count
        }
        #expect(await Self.until(60) { named(watcher) == ids.count }, "\(named(watcher)) of 300 named")
        let counts = watcher.requestCounts
        let cycles = watcher.syncs + 1
        #expect(counts.db <= 2 * cycles + cycles / 3 + 4, "\(counts.db) db requests in \(cycles) cycles")
        #expect(counts.connection <= cycles + 1, "\(counts.connection) connection requests in \(cycles) cycles")
        // Each record the hub returns is a deep copy on the controller: about one per task at most (the flood's
        // records by msg_id under the budget, or the waiting and finished queries), never one per task per cycle.
        #expect(counts.records <= 2 * ids.count, "the hub copied \(counts.records) records for 300 tasks (\(counts))")
        #expect(watcher.mirror.batches.allSatisfy { $0.label == "noop" }, "\(watcher.mirror.batches.map(\.label))")

        // --follow printed every task finished, and the trace holds every stage the bench splits the latency into
        // (the IOPub completion applied, the line flushed, the hub's replies).
        func traceLines() -> [[Substring]] {
            String(decoding: SystemFacts.contents(of: trace) ?? [], as: UTF8.self).split(separator: "\n").map {
                $0.split(separator: " ")
            }
        }
        func flushed() -> [Substring: Int64] {
            var at: [Substring: Int64] = [:]
            for p in traceLines() where p.count == 3 && p[0] == "out" && at[p[1]] == nil { at[p[1]] = Int64(p[2]) }
            return at
        }
        #expect(await Self.until(30) { let f = flushed(); return ids.allSatisfy { f[Substring($0)] != nil } }, "--follow flushed \(flushed().count)")
        follow.signal(SIGTERM)
        let f = await follow.wait()
        let shown = Set(
            f.outLines.compactMap(Self.json).filter { ($0["event"] as? String) == "task" && ($0["status"] as? String) == "ok" }
                .compactMap { $0["msg_id"] as? String })
        #expect(ids.allSatisfy { shown.contains($0) }, "--follow showed \(ids.filter { shown.contains($0) }.count) of 300 done")
        let applied = Set(traceLines().filter { $0.count == 5 && $0[0] == "io" }.map { $0[1] })
        #expect(ids.allSatisfy { applied.contains(Substring($0)) }, "IOPub idle traced for \(applied.count) tasks")
        #expect(traceLines().contains { $0.first == "db" }, "no db reply in the trace")
    }
}
