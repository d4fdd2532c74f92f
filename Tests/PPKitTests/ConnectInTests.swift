import Foundation
import NIOCore
import Synchronization
import Testing

@testable import PPKit

/// A blocking TCP client on 127.0.0.1, for speaking raw bytes to the listener.
final class RawSocket {
    let fd: Int32

    init?(port: Int) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            close(fd)
            return nil
        }
    }
    /// One already connected (one end of a socketpair), now owned here.
    init(fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
    func send(_ m: WireMessage) { send(Array(m.frame.readableBytesView)) }

    /// Reads until the peer closes (true) or `timeout` passes (false); returns what came.
    func readToEnd(timeout: Double) -> (closed: Bool, bytes: [UInt8]) {
        var out: [UInt8] = []
        let end = Date().addingTimeInterval(timeout)
        var buf = [UInt8](repeating: 0, count: 4096)
        while Date() < end {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 50) <= 0 { continue }
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return (true, out) }
            out += buf[0..<n]
        }
        return (false, out)
    }

    /// Bytes read and not yet parsed (a read may bring several frames).
    private var pending = ByteBuffer()

    /// The next message from the peer, waiting up to `timeout`.
    func receive(timeout: Double) -> WireMessage? {
        let end = Date().addingTimeInterval(timeout)
        var buf = [UInt8](repeating: 0, count: 4096)
        while Date() < end {
            if let m = try? FrameParser().next(&pending) { return m }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 50) <= 0 { continue }
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return nil }
            pending.writeBytes(buf[0..<n])
        }
        return nil
    }
}

/// Runs `EngineWorker.serveConnected` on its own thread; `exitCode` once it returns.
final class InProcessWorker: Sendable {
    let code = Mutex<Int32?>(nil)
    let log = Recorder<String>()

    init(port: Int, token: EngineToken) {
        var options = EngineWorkerOptions()
        options.handlesSignals = false
        options.connectTimeout = 5
        let log = self.log
        options.log = { log.append($0) }
        let settings = options
        Thread.detachNewThread { [self] in
            let c = EngineWorker.serveConnected(host: "127.0.0.1", port: port, token: token, options: settings)
            code.withLock { $0 = c }
        }
    }

    /// Waits up to `timeout` for the worker to end.
    func exitCode(timeout: Double) -> Int32? {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if let c = code.withLock({ $0 }) { return c }
            usleep(10_000)
        }
        return nil
    }
}

@Suite("Connect-in engines and the token", .serialized)
struct ConnectInTests {
    @Test("proofs verify with the token and fail with another or a changed nonce")
    func proofs() throws {
        let token = EngineToken.random()
        let other = EngineToken.random()
        let challenge = EngineToken.nonce()
        let nonce = EngineToken.nonce()
        let proof = token.workerProof(challenge: challenge, workerNonce: nonce)
        #expect(proof.count == 32)
        #expect(token.verifyWorker(proof, challenge: challenge, workerNonce: nonce))
        #expect(!other.verifyWorker(proof, challenge: challenge, workerNonce: nonce))
        #expect(!token.verifyWorker(proof, challenge: EngineToken.nonce(), workerNonce: nonce))
        #expect(!token.verifyWorker([], challenge: challenge, workerNonce: nonce))
        // The scheduler's proof is a different message: a worker's proof cannot be replayed as one.
        #expect(!token.verifyScheduler(proof, challenge: challenge, workerNonce: nonce))
        #expect(
            token.verifyScheduler(
                token.schedulerProof(challenge: challenge, workerNonce: nonce), challenge: challenge, workerNonce: nonce
            ))
        #expect(throws: PPError.self) { try EngineToken(secret: "short") }
    }

    @Test("the token file is created 0600 in a 0700 directory, read back, and refused when others may read it")
    func tokenFile() throws {
        let dir = NSTemporaryDirectory() + "ppdash-token-\(getpid())-\(Int.random(in: 0..<1_000_000))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/sub/token"
        let made = try EngineToken.readOrCreate(path: path)
        var st = stat()
        #expect(stat(path, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
        #expect(stat(dir + "/sub", &st) == 0)
        #expect(st.st_mode & 0o777 == 0o700)
        #expect(try EngineToken.readOrCreate(path: path) == made)
        #expect(try EngineToken.read(path: path) == made)
        chmod(path, 0o644)
        do {
            _ = try EngineToken.read(path: path)
            Issue.record("a world-readable token was accepted")
        } catch {
            #expect(error.message.contains("chmod 600"))
        }
    }

    @Test("right token joins and runs tasks; wrong token, garbage and silence are refused; the listener keeps serving")
    func connectIn() throws {
        let scheduler = Scheduler()
        let log = Recorder<String>()
        var options = RemoteEngineOptions()
        options.heartbeat = 0.1
        options.log = { log.append($0) }
        let token = EngineToken.random()
        let listener = try EngineListener(
            scheduler: scheduler, port: 0, token: token, tokenPath: "/t", options: options)
        defer { listener.close() }
        #expect(listener.port > 0)
        #expect(listener.connectCommand() == "ppdash engine --connect 127.0.0.1:\(listener.port) --token-file /t")

        // Garbage: refused and closed.
        let garbage = try #require(RawSocket(port: listener.port))
        garbage.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(garbage.readToEnd(timeout: 3).closed)
        // A frame far over the handshake limit: refused from its header.
        let big = try #require(RawSocket(port: listener.port))
        big.send([0x10, 0, 0, 0, 1, 8])
        #expect(big.readToEnd(timeout: 3).closed)
        // Another protocol version.
        let v2 = try #require(RawSocket(port: listener.port))
        var frame = WireMessage.heartbeat.frame
        frame.setInteger(UInt8(7), at: 4)
        v2.send(Array(frame.readableBytesView))
        #expect(v2.readToEnd(timeout: 3).closed)
        // A hello without a proof.
        let bare = try #require(RawSocket(port: listener.port))
        guard case .challenge = bare.receive(timeout: 3) else {
            Issue.record("no challenge from the listener")
            return
        }
        bare.send(.hello(WireHello(host: "intruder", pid: 1, cores: 1)))
        #expect(bare.readToEnd(timeout: 3).closed)

        // A worker with a wrong token: refused, exits 1 and says so.
        let wrong = InProcessWorker(port: listener.port, token: EngineToken.random())
        #expect(wrong.exitCode(timeout: 5) == 1)
        #expect(wrong.log.all.contains { $0.contains("refused this worker") }, "\(wrong.log.all)")
        #expect(scheduler.engineIDs.isEmpty)

        // The right token: joins as a connected engine and runs the recipe.
        let right = InProcessWorker(port: listener.port, token: token)
        #expect(eventually { scheduler.engineIDs.count == 1 })
        let client = Client(scheduler: scheduler) { throw PPError(.noEngine, "none") }
        let ar = try client.loadBalancedView().submit(builtins: (0..<20).map { .sleepSquare(x: $0, seconds: 0.001) })
        #expect(ar.wait(timeout: 10))
        #expect(try ar.get(timeout: 1) == (0..<20).map { $0 * $0 })
        let m = try #require(ar.metadata(0))
        #expect(m.engineHost == hostName())
        #expect(m.status == .ok)
        let snap = scheduler.read(batchLimit: 0)
        #expect(snap.engines.first?.info.kind == .connected)
        #expect(snap.engines.first?.info.pid == getpid())

        let reasons = log.all.joined(separator: "\n")
        #expect(reasons.contains("protocol error: a frame of 1195725856 bytes (the limit is 65536)"), "\(reasons)")
        #expect(reasons.contains("protocol error: a frame of 268435456 bytes (the limit is 65536)"), "\(reasons)")
        #expect(reasons.contains("protocol version 7 (this ppdash speaks \(WireProtocol.version))"), "\(reasons)")
        #expect(reasons.contains("no token proof"), "\(reasons)")
        #expect(reasons.contains("wrong token"), "\(reasons)")

        // The scheduler stops: the worker leaves cleanly.
        client.shutdown()
        #expect(right.exitCode(timeout: 5) == 0)
    }

    @Test("a worker that falls silent misses 5 heartbeats; its task fails naming the engine, host and task")
    func silentWorker() throws {
        let scheduler = Scheduler()
        var options = RemoteEngineOptions()
        options.heartbeat = 0.05
        let token = EngineToken.random()
        let listener = try EngineListener(
            scheduler: scheduler, port: 0, token: token, tokenPath: "/t", options: options)
        defer { listener.close() }
        let sock = try #require(RawSocket(port: listener.port))
        guard case .challenge(let challenge) = sock.receive(timeout: 3) else {
            Issue.record("no challenge")
            return
        }
        let nonce = EngineToken.nonce()
        sock.send(
            .hello(
                WireHello(
                    host: "node7", pid: 99, cores: 2, nonce: nonce,
                    proof: token.workerProof(challenge: challenge, workerNonce: nonce))))
        guard case .welcome(let w) = sock.receive(timeout: 3) else {
            Issue.record("no welcome")
            return
        }
        #expect(token.verifyScheduler(w.proof, challenge: challenge, workerNonce: nonce))
        #expect(w.heartbeatMillis == 50)
        #expect(eventually { scheduler.engineIDs.count == 1 })
        let client = Client(scheduler: scheduler) { throw PPError(.noEngine, "none") }
        let ar = try client.loadBalancedView().submit(builtins: [.noop])
        // Take the task, say it started, then say nothing more.
        var run: WireRun?
        let end = Date().addingTimeInterval(3)
        while run == nil, Date() < end, let m = sock.receive(timeout: 1) {
            if case .run(let r) = m { run = r }
        }
        let r = try #require(run)
        sock.send(.started(task: r.task, at: SystemClock().now().microseconds, processGroup: 0))
        #expect(ar.wait(timeout: 5))
        let m = try #require(ar.metadata(0))
        #expect(m.status == .error)
        #expect(m.error == "engine 0 (node7) died: missed 5 heartbeats while running task 1")
        let snap = scheduler.read(batchLimit: 0)
        #expect(snap.engines.first?.state == .dead(reason: "missed 5 heartbeats"))
        #expect(sock.readToEnd(timeout: 2).closed)
    }

    @Test("the dashboard's + adds one engine of the first spec's kind; under listen it says how engines join")
    func plusKey() throws {
        let dir = NSTemporaryDirectory() + "ppdash-plus-\(getpid())-\(Int.random(in: 0..<1_000_000))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = EngineLaunchOptions()
        options.tokenPath = dir + "/token"
        let listening = try EngineLauncher(specs: [.listen(port: 0), .local(count: 1)], scheduler: Scheduler(), options: options)
        defer { listening.listener?.close() }
        #expect(listening.scheduler.engineIDs.count == 1)
        do {
            _ = try listening.makeOne()
            Issue.record("+ made an engine under a listen spec")
        } catch {
            #expect(error.message.contains("ppdash engine --connect 127.0.0.1:\(listening.listener?.port ?? -1) --token-file"))
        }
        let local = try EngineLauncher(specs: [.local(count: 2), .listen(port: 0)], scheduler: Scheduler(), options: options)
        defer { local.listener?.close() }
        let client = local.makeClient()
        try client.addEngine()
        #expect(client.ids.count == 3)
        #expect(client.scheduler.read(batchLimit: 0).engines.last?.info.kind == .local)
        client.shutdown()
    }

    @Test("a removed remote engine finishes the tasks it holds, then its worker leaves")
    func removeRemoteEngine() throws {
        let connected = try ConnectedWorker()
        defer { connected.listener.close() }
        let (scheduler, worker) = (connected.scheduler, connected.worker)
        #expect(eventually { scheduler.engineIDs.count == 1 })
        scheduler.addEngine(InProcessEngine())
        let client = Client(scheduler: scheduler) { throw PPError(.noEngine, "none") }
        let ar = try client.loadBalancedView().submit(builtins: (0..<8).map { .sleepSquare(x: $0, seconds: 0.05) })
        #expect(eventually { scheduler.queueStatus().engines[0].map { $0.running + $0.queued } == 2 })
        try client.removeEngine(0)
        #expect(ar.wait(timeout: 10))
        #expect(try ar.get(timeout: 1) == (0..<8).map { $0 * $0 })
        #expect(ar.metadata.filter { $0.engine == 0 }.count >= 2, "the removed engine finished what it held")
        #expect(worker.exitCode(timeout: 5) == 0)
        client.shutdown()
    }
}
