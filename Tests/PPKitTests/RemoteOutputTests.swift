import Foundation
import NIOCore
import PPSystem
import Synchronization
import Testing

@testable import PPKit

/// A fresh private directory for one test.
private func scratchDirectory() throws -> String {
    let dir = NSTemporaryDirectory() + "ppdash-remote-out-\(getpid())-\(Int.random(in: 0..<1_000_000_000))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Remote tasks' output crosses the wire as it is made (`output` frames) and is kept on the scheduler's side as a
/// local task's is: readable while the task runs, whole in the spool past --max-output, seen by the --line-buffer tap.
@Suite("Remote output: live and whole", .serialized)
struct RemoteOutputTests {
    @Test("connected-in worker: output readable while the task runs; 1.2 MB past --max-output spooled whole; the tap sees every byte")
    func liveAndWhole() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let scheduler = Scheduler()
        var options = RemoteEngineOptions()
        options.heartbeat = 0.2
        let token = EngineToken.random()
        let listener = try EngineListener(scheduler: scheduler, port: 0, token: token, tokenPath: "/t", options: options)
        defer { listener.close() }
        let worker = InProcessWorker(port: listener.port, token: token)
        #expect(eventually { scheduler.engineIDs.count == 1 })
        let client = Client(scheduler: scheduler) { throw PPError(.noEngine, "none") }
        let tapped = Mutex<[UInt8]>([])
        var view = client.loadBalancedView()
        view.flags.maxOutput = 1000
        view.flags.spoolDirectory = dir + "/spool"
        view.flags.outputTap = OutputTap { _, stream, bytes in
            if stream == 0 { tapped.withLock { $0.append(contentsOf: bytes) } }
        }
        let go = dir + "/go"
        // The task waits (bounded by its run-time limit) until the test has seen its first line while it runs.
        view.flags.runTimeLimit = 60
        let ar = try view.submit(
            Sweep(
                template: try Template(
                    "echo first; while [ ! -e \(go) ]; do sleep 0.02; done; seq 1 200000; echo err >&2 # {}"),
                groups: [["x"]]))
        let id = try #require(ar.msgIds.first)
        let sawFirst = eventually(20) {
            guard let m = scheduler.metadata(id) else { return false }
            return m.status == .running && m.stdout.text == "first\n"
        }
        #expect(sawFirst, "the first line was readable while the task ran: \(String(describing: scheduler.metadata(id)))")
        _ = FileManager.default.createFile(atPath: go, contents: nil)
        #expect(ar.wait(timeout: 60))
        let m = try #require(scheduler.metadata(id))
        #expect(m.status == .ok, "\(m)")
        let whole = Array(("first\n" + (1...200_000).map(String.init).joined(separator: "\n") + "\n").utf8)
        let spool = dir + "/spool/\(id).out"
        #expect(m.stdout.spool == spool)
        let file = FileManager.default.contents(atPath: spool).map { [UInt8]($0) }
        let same = file == whole
        #expect(same, "the spool holds every byte, in order (\(file?.count ?? -1) of \(whole.count))")
        #expect(m.stdout.bytes.count == 1000 && m.stdout.droppedBytes == whole.count - 1000)
        #expect(Array(m.stdout.head) == Array(whole.prefix(500)) && Array(m.stdout.tail) == Array(whole.suffix(500)))
        #expect(m.stderr.text == "err\n" && m.stderr.spool == nil)
        let tappedAll = tapped.withLock { $0 } == whole
        #expect(tappedAll, "the tap saw every byte in order")
        client.shutdown()
        #expect(worker.exitCode(timeout: 5) == 0)
    }

    @Test("a worker's output frames for tasks it was not sent are ignored; a result's own bytes and spool name are not used")
    func hostileOutputFrames() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let scheduler = Scheduler()
        var options = RemoteEngineOptions()
        options.heartbeat = 0.2
        let token = EngineToken.random()
        let listener = try EngineListener(scheduler: scheduler, port: 0, token: token, tokenPath: "/t", options: options)
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
        guard case .welcome = sock.receive(timeout: 3) else {
            Issue.record("no welcome")
            return
        }
        #expect(eventually { scheduler.engineIDs.count == 1 })
        let client = Client(scheduler: scheduler) { throw PPError(.noEngine, "none") }
        var view = client.loadBalancedView()
        view.flags.spoolDirectory = dir + "/spool"
        let ar = try view.submit(Sweep(template: try Template("echo {}"), groups: [["x"]]))
        var run: WireRun?
        let end = Date().addingTimeInterval(5)
        while run == nil && Date() < end {
            if case .run(let r) = sock.receive(timeout: 1) { run = r }
        }
        let r = try #require(run)
        #expect(r.spoolDirectory == nil, "the worker spools nothing: its output comes here")
        sock.send(.started(task: r.task, at: 1_700_000_000_000_000, processGroup: 0))
        sock.send(.output(task: r.task, stream: 0, bytes: Array("x\n".utf8)))
        sock.send(.output(task: r.task + 1000, stream: 0, bytes: Array("not sent\n".utf8)))
        sock.send(.output(task: r.task, stream: 1, bytes: [0xFF, 0x00]))
        sock.send(
            .result(
                WireResult(
                    task: r.task, status: .ok, stdout: CapturedOutput(bytes: Array("forged".utf8), spool: "/etc/passwd"),
                    value: .shell, started: 1_700_000_000_000_000, completed: 1_700_000_000_000_001)))
        #expect(ar.wait(timeout: 10))
        let m = try #require(ar.metadata(0))
        #expect(m.status == .ok)
        #expect(m.stdout.text == "x\n" && m.stdout.spool == nil, "\(m.stdout)")
        #expect(m.stderr.bytes == [0xFF, 0x00])
        client.shutdown()
    }

    @Test("a spool write that stalls (a FIFO nobody reads) does not hold up readers of the task's output")
    func stalledSpoolWriteDoesNotBlockReaders() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fifo = dir + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        // Opened read-write, so opening does not wait for a reader; nothing reads it, so writes stall once its
        // buffer (64 KiB) is full.
        let live = LiveOutput(
            limits: ShellLimits(maxOutput: 1000, spool: dir + "/task"),
            openSpool: { _ throws(Errno) in
                let fd = open(fifo, O_RDWR)
                if fd < 0 { throw Errno(rawValue: errno) }
                return fd
            })
        let appended = Atomic<Bool>(false)
        let chunk = [UInt8](repeating: 0x41, count: 512 << 10)
        Thread.detachNewThread {
            chunk.withUnsafeBytes { live.append(stream: 0, $0) }
            appended.store(true, ordering: .releasing)
        }
        // The appender is stuck in write(2)...
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)
        defer { close(reader) }
        #expect(reader >= 0)
        var pipeBytes: Int32 = 0
        #expect(eventually(10) { ioctl(reader, UInt(FIONREAD), &pipeBytes) == 0 && pipeBytes >= 4096 })
        let waitingBefore = !appended.load(ordering: .acquiring)
        #expect(waitingBefore, "the appender waits on the full FIFO")
        // ...and a reader of the output (as Scheduler.metadata, the dashboard) does not wait for it.
        let before = Date()
        for _ in 0..<100 { _ = live.snapshot() }
        #expect(Date().timeIntervalSince(before) < 5)
        let waitingAfter = !appended.load(ordering: .acquiring)
        #expect(waitingAfter, "the snapshots were taken while the write was stalled")
        // Drain the FIFO: the appender finishes and the stream is kept as usual.
        var buf = [UInt8](repeating: 0, count: 65536)
        var drained = 0
        let finished = eventually(20) {
            let n = buf.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
            if n > 0 { drained += n }
            return appended.load(ordering: .acquiring)
        }
        #expect(finished && drained > 0)
        let (out, _, error) = live.finish()
        #expect(error == nil && out.spool == dir + "/task.out" && out.totalBytes == chunk.count)
    }
}
