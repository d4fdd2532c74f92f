import Foundation
import Testing
@testable import PPKit

@Suite("Shell tasks through the scheduler")
struct ShellTaskTests {
    /// A client of `engines` engines that ran the sweep `words` (a command line's words) to its end, waited for at
    /// most `timeout` seconds (an issue if it did not end); the caller shuts the client down.
    func ranSweep(_ words: [String], engines: Int, timeout: Double) throws -> (Client, AsyncMapResult<ShellResult>) {
        let client = makeClient(engines)
        do {
            let ar = try client.loadBalancedView().submit(try Sweep.parse(words: words))
            #expect(ar.wait(timeout: timeout), "the sweep did not end within \(timeout) s")
            return (client, ar)
        } catch {
            client.shutdown()
            throw error
        }
    }

    @Test("a sweep runs each argument as a task; results, outputs and exit statuses are recorded")
    func sweep() throws {
        let (client, ar) = try ranSweep(["echo $(({}*{})); exit $(({} % 3 == 2))", ":::", "0..8"], engines: 4, timeout: 30)
        defer { client.shutdown() }
        for (i, m) in ar.metadata.enumerated() {
            #expect(m.stdout.text == "\(i * i)\n")
            #expect(m.args == ["\(i)"])
            #expect(m.status == (i % 3 == 2 ? .error : .ok))
            #expect(m.exitStatus == (i % 3 == 2 ? 1 : 0))
        }
        #expect(ar.counts.error == 3)
    }

    @Test("a plain ended shell task keeps its exit status and resource use in the compact table, not a TaskExtra")
    func plainEndsAreCompact() throws {
        // 0..39: silent tasks exit 0 or 3 (plain ends); every tenth prints (a TaskExtra, its output).
        let (client, ar) = try ranSweep(
            ["[ $(({} % 10)) -eq 9 ] && echo out; [ $(({} % 4)) -ne 3 ]", ":::", "0..39"], engines: 2, timeout: 60)
        defer { client.shutdown() }
        for (i, m) in ar.metadata.enumerated() {
            #expect(m.exitStatus == (i % 4 == 3 ? 1 : 0), "task \(i)")
            #expect(m.usage != nil, "task \(i): cpu and memory are kept")
            #expect(m.stdout.text == (i % 10 == 9 ? "out\n" : ""), "task \(i)")
            #expect(m.status == (i % 4 == 3 ? .error : .ok), "task \(i)")
        }
        let (plain, extras) = client.scheduler.state.withLock { ($0.tasks.plainEnds.count, $0.tasks.extras.count) }
        // The 4 printing tasks need a TaskExtra (a failed one may too, for its error text); the 26 silent ok ones not.
        #expect(extras >= 4 && plain >= 26 && plain + extras == 40, "\(plain) plain + \(extras) extras")
        let failures = client.scheduler.failureRecords()
        #expect(failures.count == 10 && failures.allSatisfy { $0.exitStatus == 1 }, "triage sees the exit status")
    }

    @Test("abort stops a running shell task's whole process group")
    func abortRunning() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        let sweep = Sweep(template: try Template("sh -c 'sleep 30 & sleep 30; wait' # {}"), groups: [["1"]])
        let ar = try client.loadBalancedView().submit(sweep)
        #expect(eventually { ar.metadata(0)?.status == .running && ar.metadata(0)?.processGroup != nil })
        let pgid = try #require(ar.metadata(0)?.processGroup)
        ar.abort()
        #expect(ar.metadata(0)?.status == .aborted)
        // The group is signalled and reaped: nothing is left of it.
        #expect(eventually { processGroupGone(pgid) })
        // The engine is free again.
        #expect(eventually { client.scheduler.read(batchLimit: 8).engines.allSatisfy { $0.state == .idle } })
    }

    @Test("the run-time limit kills a shell task and records timeout; a retry is spent on it")
    func runTimeLimit() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        let sweep = Sweep(template: try Template("sleep 30; echo {}"), groups: [["x"]])
        let ar = try client.loadBalancedView().with {
            $0.runTimeLimit = 0.2
            $0.retries = 1
        }.submit(sweep)
        #expect(ar.wait(timeout: 20))
        let m = try #require(ar.metadata(0))
        #expect(m.status == .timeout)
        #expect(m.retries == 1)
    }

    @Test("{%} is the engine slot; {#} the task number")
    func slots() throws {
        let client = makeClient(2)
        defer { client.shutdown() }
        let sweep = Sweep(template: try Template("echo {#} {%}"), groups: [["a", "b", "c"]])
        let ar = try client.loadBalancedView().submit(sweep)
        let results = try ar.get(timeout: 30)
        for (i, r) in results.enumerated() {
            let parts = r.stdout.split(separator: " ")
            #expect(parts[0] == "\(i + 1)")
            let slot = Int(parts[1].trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(slot == ar.metadata(i)!.engine! + 1)
        }
    }
}
