// A worker is heard from its welcome on: the scheduler beats from the welcome, not from the engine's adoption, so a
// launch that is still starting the worker's siblings (256 workers on 2 cores) never lets it miss its heartbeats.
import Foundation
import Glibc
import PPSystem
import Synchronization
import Testing

@testable import PPKit

/// A worker link played by hand over a socketpair: the engine's end is taken by a `PendingLaunch`, the test holds
/// the other.
private func pendingOverSocketpair(heartbeat: Double) throws -> (PendingLaunch, RawSocket) {
    var sv: [Int32] = [-1, -1]
    try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &sv) == 0)
    let output = dup(sv[0])
    var options = RemoteEngineOptions()
    options.heartbeat = heartbeat
    let pending = try PendingLaunch(
        input: sv[0], output: output, process: nil, kind: .proc, host: "testhost", what: "hand-played worker",
        options: options)
    return (pending, RawSocket(fd: sv[1]))
}

extension Scheduler {
    /// Why engine `id` died; nil while it lives.
    fileprivate func engineDeathReason(_ id: EngineID) -> String? {
        state.withLock { $0.engines[id].alive ? nil : $0.engines[id].deathReason }
    }
}

@Suite("heartbeats from the welcome")
struct HeartbeatStartTests {
    @Test("a welcomed worker not yet adopted hears heartbeats, and is alive when adopted after 20 intervals")
    func beatsBeforeAdoption() throws {
        let (pending, sock) = try pendingOverSocketpair(heartbeat: 0.05)
        sock.send(.hello(WireHello(host: "node7", pid: 99, cores: 2, nonce: [], proof: [])))
        guard case .welcome(let w) = sock.receive(timeout: 10) else {
            Issue.record("no welcome")
            return
        }
        #expect(w.heartbeatMillis == 50)
        #expect(pending.verdictNow.map { (try? $0.get()) != nil } == true, "the hello is in")
        // Nobody adopts the engine meanwhile (a launch still starting siblings): the worker must hear heartbeats,
        // or it would stop after 10 silent intervals. It answers each, as a worker does.
        var beats = 0
        let end = Date().addingTimeInterval(20)
        while beats < 20, Date() < end, let m = sock.receive(timeout: 1) {
            if case .heartbeat = m {
                beats += 1
                sock.send(.heartbeat)
            }
        }
        #expect(beats == 20, "heartbeats before adoption: \(beats)")
        // Adopted now: alive, and it takes a task.
        let scheduler = Scheduler()
        let client = Client(scheduler: scheduler, engineFactory: { throw PPError(.noEngine, "none") })
        let id = scheduler.addEngine(pending.engine)
        let ar = try client.directView(targets: [id]).submit(builtins: [.noop])
        var ran: WireRun?
        let runEnd = Date().addingTimeInterval(10)
        while ran == nil, Date() < runEnd, let m = sock.receive(timeout: 1) {
            switch m {
            case .run(let r): ran = r
            case .heartbeat: sock.send(.heartbeat)
            default: break
            }
        }
        let run = try #require(ran, "the adopted engine was sent its task")
        let now = SystemClock().now()
        sock.send(
            .result(
                WorkerSession.wire(
                    run.task, TaskOutcome(status: .ok, value: 0, started: now, completed: now), settledOnly: false)))
        #expect(try ar.get(timeout: 10).count == 1)
        scheduler.shutdown()
    }

    @Test("a worker silent after its hello is dead when adopted, with 'missed 5 heartbeats' as the reason")
    func silentBeforeAdoptionDies() throws {
        let (pending, sock) = try pendingOverSocketpair(heartbeat: 0.05)
        sock.send(.hello(WireHello(host: "node7", pid: 99, cores: 2, nonce: [], proof: [])))
        guard case .welcome = sock.receive(timeout: 10) else {
            Issue.record("no welcome")
            return
        }
        // It says nothing more: the engine cuts the link after 5 of its ticks, before anyone adopted it.
        #expect(sock.readToEnd(timeout: 20).closed, "the link was cut")
        let scheduler = Scheduler()
        let id = scheduler.addEngine(pending.engine)
        #expect(eventually(20) { scheduler.engineDeathReason(id) != nil })
        #expect(scheduler.engineDeathReason(id)?.contains("missed 5 heartbeats") == true, "\(String(describing: scheduler.engineDeathReason(id)))")
        scheduler.shutdown()
    }

    @Test("silence is counted in our own ticks: a frame between two ticks clears it")
    func silenceCountsTicks() {
        let s = HeartbeatSilence()
        #expect(s.tick() == 0, "heard at the start (the welcome)")
        #expect(s.tick() == 1)
        #expect(s.tick() == 2)
        s.heard()
        #expect(s.tick() == 0)
        #expect(s.tick() == 1)
    }
}
