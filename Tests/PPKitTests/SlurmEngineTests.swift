import Testing

@testable import PPKit

/// An engine whose batch job is queued: it reports its job, forwards the rest to a `ManualEngine`.
private final class QueuedJobEngine: Engine {
    let inner = ManualEngine(highWaterMark: 2)
    let info = EngineInfo(kind: .slurm, host: "job 7_0", pid: 0, cores: 0)
    var highWaterMark: Int { inner.highWaterMark }
    var runsClosures: Bool { true }
    var job: EngineJob? { EngineJob(id: "7_0", state: "PENDING", reason: "Priority") }
    func start(id: EngineID, sink: any EngineSink) { inner.start(id: id, sink: sink) }
    func run(_ a: Assignment) { inner.run(a) }
    func cancel(_ task: TaskID, reason: CancelReason) {}
    func shutdown(graceful: Bool) {}
}

@Suite("Slurm engines: spec, held engines, endings")
struct SlurmEngineTests {
    @Test("slurm:N parses, prints back, and is refused with a bad count")
    func spec() throws {
        #expect(try EngineSpec.parseList("slurm:4", defaultCount: 8) == [.slurm(count: 4)])
        #expect(try EngineSpec.parseList("slurm", defaultCount: 8) == [.slurm(count: 8)])
        #expect(try EngineSpec.parseList("local:2,slurm:3", defaultCount: 8) == [.local(count: 2), .slurm(count: 3)])
        #expect(EngineSpec.slurm(count: 4).description == "slurm:4")
        #expect(EngineSpec.slurm(count: 4).kind == .slurm)
        for bad in ["slurm:0", "slurm:-1", "slurm:x", "slurm:99999"] {
            #expect(throws: PPError.self, "\(bad)") { try EngineSpec.parseList(bad, defaultCount: 8) }
        }
    }

    @Test("an engine adopted with a queued job takes no task until it is ready; the snapshot shows its job")
    func heldUntilReady() throws {
        let scheduler = Scheduler()
        let client = Client(scheduler: scheduler, engineFactory: { ManualEngine() })
        let queued = QueuedJobEngine()
        let id = client.addEngine(queued)
        let ar = try client.loadBalancedView().mapAsync({ (x: Int) in x }, [1, 2, 3])
        #expect(queued.inner.held.isEmpty, "a queued job's engine got a task")
        #expect(ar.progress == 0)
        let row = scheduler.read(batchLimit: 0).engines.first { $0.id == id }
        #expect(row?.job?.id == "7_0" && row?.job?.isQueued == true && row?.state == .idle)
        scheduler.engineReady(id)
        #expect(queued.inner.held.count == 2, "ready: it takes tasks up to its high-water mark")
        queued.inner.finishFirst(value: 1)
        queued.inner.finishFirst(value: 2)
        #expect(eventually { queued.inner.held.count == 1 })
        queued.inner.finishFirst(value: 3)
        #expect(try ar.get(timeout: 10) as [Int] == [1, 2, 3])
    }

    @Test("endings name Slurm's reason; one that never connected gives its last line of output")
    func endings() {
        func end(_ state: String, _ reason: String? = nil, connected: Bool = true, tail: String? = nil) -> String {
            SlurmPool.describeEnd(
                job: "12_3", polled: SlurmPool.Polled(state: state, reason: reason), connectedBefore: connected,
                outputTail: tail)
        }
        #expect(end("CANCELLED") == "Slurm job 12_3 was cancelled (scancel)")
        #expect(end("TIMEOUT", "TimeLimit") == "Slurm job 12_3 reached its time limit [TimeLimit]")
        #expect(end("NODE_FAIL") == "Slurm job 12_3 ended: its node failed")
        #expect(end("PREEMPTED") == "Slurm job 12_3 was preempted")
        #expect(
            end("FAILED", "NonZeroExitCode", connected: false, tail: "engine.sh: 3: exec: ppdash: not found")
                == "Slurm job 12_3 ended (FAILED) [NonZeroExitCode] before its engine connected: engine.sh: 3: exec: ppdash: not found")
        #expect(
            SlurmPool.describeEnd(job: "1_0", polled: nil, connectedBefore: true, outputTail: nil)
                == "Slurm job 1_0 left the queue")
        for live in ["PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED"] { #expect(!SlurmPool.isFinal(live)) }
        for over in ["CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "FAILED", "COMPLETED", "OUT_OF_MEMORY"] {
            #expect(SlurmPool.isFinal(over))
        }
    }

    @Test("a keyring admits each token once and names its tag")
    func keyring() {
        let ring = EngineKeyring()
        let (a, b) = (EngineToken.random(), EngineToken.random())
        ring.add(a, tag: "1-0")
        ring.add(b, tag: "1-1")
        let challenge = EngineToken.nonce()
        let nonce = EngineToken.nonce()
        let proof = b.workerProof(challenge: challenge, workerNonce: nonce)
        #expect(ring.take(proof: proof, challenge: challenge, workerNonce: nonce)?.tag == "1-1")
        #expect(ring.take(proof: proof, challenge: challenge, workerNonce: nonce) == nil, "a token admits one worker")
        #expect(ring.take(proof: [1, 2, 3], challenge: challenge, workerNonce: nonce) == nil)
        #expect(ring.count == 1)
    }
}
