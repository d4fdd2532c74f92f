// `ppdash ipp` against a real IPython Parallel 9.2.0 cluster (a venv that .ci/run makes; PPDASH_IPP_PYTHON names
// its python). Without it the test is skipped with a message.
import Foundation
import PPSystem
import Testing

import Glibc

private let ippPython = ProcessInfo.processInfo.environment["PPDASH_IPP_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }

@Suite("ipyparallel cluster", .serialized)
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
        .timeLimit(.minutes(2)))
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
}
