// Engine deaths have one meaning: what a dead engine only queued goes back unpaid, what may have run is retried or
// failed per --retries, and with no engine left (none expected) every unfinished task fails at once.
import Foundation
import Glibc
import NIOCore
import PPSystem
import Synchronization
import Testing

@testable import PPKit

/// A connected-in worker played by hand over a raw socket: handshake done, heartbeat `heartbeat` seconds.
private func joinRawWorker(_ listener: EngineListener, token: EngineToken, scheduler: Scheduler) throws -> RawSocket {
    let sock = try #require(RawSocket(port: listener.port))
    guard case .challenge(let challenge) = sock.receive(timeout: 3) else { throw PPError(.invalidState, "no challenge") }
    let nonce = EngineToken.nonce()
    sock.send(
        .hello(
            WireHello(
                host: "node7", pid: 99, cores: 2, nonce: nonce,
                proof: token.workerProof(challenge: challenge, workerNonce: nonce))))
    guard case .welcome = sock.receive(timeout: 3) else { throw PPError(.invalidState, "no welcome") }
    #expect(eventually { scheduler.engineIDs.count == 1 })
    return sock
}

/// The next `n` runs the scheduler sends, in order.
private func runs(_ n: Int, from sock: RawSocket) -> [WireRun] {
    var out: [WireRun] = []
    let end = Date().addingTimeInterval(5)
    while out.count < n, Date() < end, let m = sock.receive(timeout: 1) {
        if case .run(let r) = m { out.append(r) }
    }
    return out
}

private func aborted(_ task: Int64) -> WireMessage {
    let now = SystemClock().now()
    return .result(
        WorkerSession.wire(
            task, TaskOutcome(status: .aborted, error: "aborted while running", started: now, completed: now),
            settledOnly: false))
}

@Suite("engine deaths", .serialized)
struct EngineDeathTests {
    @Test("a dead engine's only-queued task goes back: no error, no retry spent; a later real failure still gets its retry")
    func queuedOnlyGoBack() throws {
        let scheduler = Scheduler()
        let client = Client(scheduler: scheduler, engineFactory: { ManualEngine() })
        let e0 = ManualEngine(highWaterMark: 2)
        client.addEngine(e0)
        let ar = try client.loadBalancedView().with { $0.retries = 1 }.mapAsync({ (x: Int) in x }, [1, 2])
        #expect(e0.held.count == 2, "one runs, one waits behind it")
        let (t1, t2) = (ar.msgIds[0], ar.msgIds[1])
        let e1 = ManualEngine(highWaterMark: 2)
        client.addEngine(e1)
        e0.die("killed by signal 9", neverStarted: [t2])
        #expect(eventually { e1.held.count == 2 })
        #expect(scheduler.metadata(t2)?.retries == 0, "only queued: no retry spent")
        #expect(scheduler.metadata(t2)?.error == nil)
        #expect(scheduler.metadata(t1)?.retries == 1, "it ran on the dead engine: a retry")
        // t2 now fails for real: its retry is still there.
        #expect(e1.held.first == t2)
        e1.failFirst("exit status 1")
        #expect(scheduler.metadata(t2)?.status == .pending)
        #expect(scheduler.metadata(t2)?.retries == 1)
        e1.finishFirst(value: 1)
        #expect(eventually { e1.held == [t2] })
        e1.finishFirst(value: 2)
        #expect(try ar.get(timeout: 5) == [1, 2])
    }

    @Test("every engine dead: unfinished tasks fail at once naming the deaths; a later submit fails too")
    func allEnginesDead() throws {
        let scheduler = Scheduler()
        let client = Client(scheduler: scheduler, engineFactory: { ManualEngine() })
        let e0 = ManualEngine()
        let e1 = ManualEngine()
        client.addEngine(e0)
        client.addEngine(e1)
        let ar = try client.loadBalancedView().with { $0.retries = 2 }.mapAsync({ (x: Int) in x }, [1, 2, 3, 4])
        let onE1 = try #require(e1.held.first)
        e0.die("killed by signal 9")
        #expect(!ar.ready(), "engine 1 is still there")
        e1.die("missed 5 heartbeats")
        #expect(ar.wait(timeout: 5), "no engine left: the batch ends at once")
        let md = ar.metadata
        #expect(md.allSatisfy { $0.status == .error }, "\(md.map(\.status))")
        #expect(
            scheduler.metadata(onE1)?.error == "engine 1 (testhost) died: missed 5 heartbeats while running task \(onE1)",
            "no engine to retry on: the death is its error")
        let why =
            "no engine left to run it: engine 0 (testhost) died: killed by signal 9; engine 1 (testhost) died: missed 5 heartbeats"
        #expect(md.filter { $0.error == why }.count == 3, "\(md.map { $0.error ?? "-" })")
        #expect(md.filter { $0.error == why }.allSatisfy { $0.started == nil })
        let later = try client.loadBalancedView().applyAsync { 5 }
        #expect(later.wait(timeout: 1))
        #expect(later.metadata(0)?.error == why)
    }

    @Test("waitsForEngines: with every engine dead tasks wait, and run on an engine added later")
    func waitsForEngines() throws {
        let scheduler = Scheduler()
        scheduler.waitsForEngines = true
        let client = Client(scheduler: scheduler, engineFactory: { ManualEngine() })
        let e0 = ManualEngine()
        client.addEngine(e0)
        let ar = try client.loadBalancedView().mapAsync({ (x: Int) in x }, [1, 2])
        e0.die("killed by signal 9", neverStarted: [])
        #expect(!ar.wait(timeout: 0.2), "tasks wait for engines")
        #expect(scheduler.totals.pending == 1)
        client.addEngine(InProcessEngine())
        #expect(ar.wait(timeout: 5))
        #expect(ar.metadata.filter { $0.status == .ok }.count == 1)
        #expect(ar.metadata.filter { $0.status == .error }.count == 1, "the one running on the dead engine")
    }

    @Test(
        "a connected worker that leaves on its own: queued tasks go back unrun and unpaid; its running task is an engine error, retried per retries, not aborted",
        arguments: [0, 1])
    func workerLeaves(retries: Int) throws {
        let scheduler = Scheduler()
        let token = EngineToken.random()
        let listener = try EngineListener(scheduler: scheduler, port: 0, token: token, tokenPath: "/t")
        defer { listener.close() }
        let sock = try joinRawWorker(listener, token: token, scheduler: scheduler)
        let client = Client(scheduler: scheduler) { throw PPError(.noEngine, "none") }
        let ar = try client.loadBalancedView().with { $0.retries = retries }.submit(
            builtins: [.sleepSquare(x: 2, seconds: 0), .sleepSquare(x: 3, seconds: 0)])
        let sent = runs(2, from: sock)
        #expect(sent.count == 2)
        guard sent.count == 2 else { return }
        sock.send(.started(task: sent[0].task, at: SystemClock().now().microseconds, processGroup: 0))
        // As `ppdash engine` does on SIGTERM: bye first, then every task it held back as aborted.
        sock.send(.bye(reason: "stopping on signal 15", graceful: false))
        sock.send(aborted(sent[1].task))
        sock.send(aborted(sent[0].task))
        #expect(eventually { scheduler.metadata(TaskID(Int(sent[0].task)))?.status != .running })
        // A leaving worker is sent nothing more (the retry waits for another engine).
        var late: [WireRun] = []
        let quiet = Date().addingTimeInterval(0.3)
        while Date() < quiet, let m = sock.receive(timeout: 0.1) {
            if case .run(let r) = m { late.append(r) }
        }
        #expect(late.isEmpty, "sent to a leaving worker: \(late.map(\.task))")
        sock.send(.bye(reason: "worker stopping", graceful: false))
        shutdown(sock.fd, Int32(SHUT_RDWR))  // the worker is gone
        let ran = TaskID(Int(sent[0].task))
        let queued = TaskID(Int(sent[1].task))
        // The listener may bring engines: nothing fails for want of one. Give it a local engine.
        #expect(eventually { scheduler.engineIDs.isEmpty })
        scheduler.addEngine(InProcessEngine())
        #expect(ar.wait(timeout: 5))
        let q = try #require(scheduler.metadata(queued))
        #expect(q.status == .ok && q.retries == 0 && q.engine == 1, "the queued task ran elsewhere, unpaid: \(q)")
        let r = try #require(scheduler.metadata(ran))
        if retries == 0 {
            #expect(r.status == .error)
            #expect(r.error == "engine 0 (node7) left (stopping on signal 15) while running task \(ran)")
        } else {
            #expect(r.status == .ok && r.retries == 1 && r.engine == 1, "\(r)")
        }
        client.shutdown()
    }

    @Test("a worker gone before any started frame: its first task may have run (charged), the one behind it goes back")
    func startedFrameLost() throws {
        let scheduler = Scheduler()
        let token = EngineToken.random()
        let listener = try EngineListener(scheduler: scheduler, port: 0, token: token, tokenPath: "/t")
        defer { listener.close() }
        let sock = try joinRawWorker(listener, token: token, scheduler: scheduler)
        let client = Client(scheduler: scheduler) { throw PPError(.noEngine, "none") }
        let ar = try client.loadBalancedView().submit(builtins: [.sleepSquare(x: 2, seconds: 0), .sleepSquare(x: 3, seconds: 0)])
        let sent = runs(2, from: sock)
        #expect(sent.count == 2)
        guard sent.count == 2 else { return }
        shutdown(sock.fd, Int32(SHUT_RDWR))  // the worker is gone without a word
        #expect(eventually { scheduler.engineIDs.isEmpty })
        scheduler.addEngine(InProcessEngine())
        #expect(ar.wait(timeout: 5))
        let first = try #require(scheduler.metadata(TaskID(Int(sent[0].task))))
        #expect(first.status == .error)
        #expect(first.error?.contains("it may have started") == true, "\(first.error ?? "-")")
        #expect(first.error?.contains("before starting") == false)
        let second = try #require(scheduler.metadata(TaskID(Int(sent[1].task))))
        #expect(second.status == .ok && second.retries == 0, "\(second)")
        client.shutdown()
    }

    @Test("engine --connect to a server that accepts and stays silent gives up after the handshake timeout")
    func silentServer() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
                bind(fd, p, len) == 0 && getsockname(fd, p, &len) == 0
            }
        }
        // Listening, never accepting: the kernel completes the connection and nobody speaks.
        #expect(bound && listen(fd, 4) == 0)
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let start = Date()
        let worker = InProcessWorker(port: port, token: EngineToken.random())
        let limit = Double(EngineListener.handshakeTimeout)
        let code = worker.exitCode(timeout: limit + 5)
        #expect(code == 1)
        let took = Date().timeIntervalSince(start)
        #expect(took >= limit - 0.5 && took < limit + 5, "\(took) s")
        #expect(worker.log.all.contains { $0.contains("did not complete the handshake within \(Int(limit)) s") }, "\(worker.log.all)")
    }
}
