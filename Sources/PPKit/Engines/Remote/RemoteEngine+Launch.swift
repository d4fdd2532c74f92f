import Dispatch
import NIOCore
import NIOPosix
import PPSystem
import Synchronization

/// Settings shared by every engine in another process.
public struct RemoteEngineOptions: Sendable {
    /// Slots per engine against the scheduler's high-water mark: 64 pipelines no-ops; other tasks take 32 each
    /// (see `TaskWork.hwmCost`), so one runs and one waits.
    public var highWaterMark = 64
    /// Seconds between heartbeats, both ways; `RemoteEngine.missedHeartbeatLimit` missed and the engine is dead.
    public var heartbeat: Double = 1
    /// Seconds a started worker has to say hello (ssh may ask DNS, keys, a slow login shell...).
    public var helloTimeout: Double = 30
    /// Where refused connections and protocol errors are told (the CLI: stderr unless the dashboard is up).
    public var log: @Sendable (String) -> Void = { _ in }

    public init() {}
}

extension RemoteEngine {
    /// Starts `count` workers running `argv` at once, waits for their hellos and returns them, not yet adopted.
    /// `what` names one in errors, e.g. "ssh engine on node7". The first failure stops them all.
    static func launch(
        count: Int, path: String, argv: [String], kind: EngineKind, label: String, host: String, what: String,
        options: RemoteEngineOptions
    ) throws(PPError) -> [RemoteEngine] {
        let results = launchEach(
            count: count, path: path, argv: argv, kind: kind, label: label, host: host, what: what, options: options)
        var engines: [RemoteEngine] = []
        var failure: PPError?
        for r in results {
            switch r {
            case .success(let e): engines.append(e)
            case .failure(let e): failure = failure ?? e
            }
        }
        if let failure {
            for e in engines { e.shutdown(graceful: false) }
            throw failure
        }
        return engines
    }

    /// Starts `count` workers running `argv` at once and waits (one deadline for all) for each one's hello: each
    /// result is its engine, not yet adopted, or why it did not start.
    static func launchEach(
        count: Int, path: String, argv: [String], kind: EngineKind, label: String, host: String, what: String,
        options: RemoteEngineOptions
    ) -> [Result<RemoteEngine, PPError>] {
        awaitHellos(
            startEach(count: count, path: path, argv: argv, kind: kind, label: label, host: host, what: what, options: options),
            until: DispatchTime.now() + .nanoseconds(Int(Timings.nanoseconds(options.helloTimeout) ?? 0)))
    }

    /// Starts `count` workers running `argv`, not waiting for anything.
    static func startEach(
        count: Int, path: String, argv: [String], kind: EngineKind, label: String, host: String, what: String,
        options: RemoteEngineOptions
    ) -> [Result<PendingLaunch, PPError>] {
        (0..<count).map { _ in
            do throws(PPError) {
                return .success(
                    try PendingLaunch(path: path, argv: argv, kind: kind, label: label, host: host, what: what, options: options))
            } catch {
                return .failure(error)
            }
        }
    }

    /// Waits for the hellos of started workers, all against one `deadline`.
    static func awaitHellos(_ pending: [Result<PendingLaunch, PPError>], until deadline: DispatchTime)
        -> [Result<RemoteEngine, PPError>]
    {
        pending.map { p in
            switch p {
            case .failure(let e): return .failure(e)
            case .success(let p):
                do throws(PPError) { return .success(try p.wait(until: deadline)) } catch { return .failure(error) }
            }
        }
    }
}

/// One worker started and not yet heard from.
final class PendingLaunch: Sendable {
    let engine: RemoteEngine
    let what: String
    let helloTimeout: Double
    private let verdict = Verdict()

    /// The hello's outcome, set once, and a semaphore to wait for it.
    final class Verdict: Sendable {
        let result = Mutex<Result<Void, PPError>?>(nil)
        let signal = DispatchSemaphore(value: 0)
        func set(_ r: Result<Void, PPError>) {
            result.withLock { $0 = $0 ?? r }
            signal.signal()
        }
    }

    convenience init(
        path: String, argv: [String], kind: EngineKind, label: String, host: String, what: String,
        options: RemoteEngineOptions
    )
        throws(PPError)
    {
        let process = try WorkerProcess.spawn(path: path, argv: argv, label: label)
        try self.init(
            input: process.output, output: process.input, process: process, kind: kind, host: host, what: what,
            options: options)
    }

    /// A worker already there: read its frames from `input`, write ours to `output` (both taken over), stop
    /// `process` (if any) when the link cannot be set up.
    init(
        input: Int32, output: Int32, process: WorkerProcess?, kind: EngineKind, host: String, what: String,
        options: RemoteEngineOptions
    ) throws(PPError) {
        self.what = what
        self.helloTimeout = options.helloTimeout
        let channel: any Channel
        // The link handler is kept here, not looked up in the pipeline later: a worker that ends at once (ssh to a
        // host that does not resolve) may have its pipeline torn down before the engine attaches, and its end must
        // still reach the engine (else the launch waited for the whole hello timeout).
        let loop = WireLoops.group.next()
        let link = NIOLoopBoundBox.makeEmptyBox(valueType: WireLinkHandler.self, eventLoop: loop)
        do {
            channel = try NIOPipeBootstrap(group: loop)
                .channelInitializer { ch in
                    ch.eventLoop.makeCompletedFuture {
                        try ch.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(WireFrameDecoder(limit: WireProtocol.maxFrame)))
                        let handler = WireLinkHandler(delegate: nil)
                        link.value = handler
                        try ch.pipeline.syncOperations.addHandler(handler)
                    }
                }
                .takingOwnershipOfDescriptors(input: input, output: output).wait()
        } catch {
            OwnedDescriptor(taking: input).close()
            OwnedDescriptor(taking: output).close()
            process?.child.send(signal: SIGKILL)
            throw PPError(.noEngine, "\(what) did not start: \(error)")
        }
        let verdict = self.verdict
        let admission = RemoteEngine.Admission(
            token: nil,
            accepted: { _ in verdict.set(.success(())) },
            refused: { why in verdict.set(.failure(PPError(.noEngine, "\(what) did not start: \(why)"))) })
        engine = RemoteEngine(
            kind: kind, host: host, channel: channel, process: process, highWaterMark: options.highWaterMark,
            heartbeat: options.heartbeat, admission: admission, log: options.log)
        let engine = self.engine
        loop.execute { link.value?.attach(engine) }
    }

    /// The hello's outcome if it is in (the engine, or why it did not start); nil while the worker is silent.
    var verdictNow: Result<RemoteEngine, PPError>? {
        switch verdict.result.withLock({ $0 }) {
        case nil: return nil
        case .success: return .success(engine)
        case .failure(let e): return .failure(e)
        }
    }

    /// The engine once its hello is in; an error naming the cause if it ended or stayed silent.
    func wait(until deadline: DispatchTime) throws(PPError) -> RemoteEngine {
        if verdict.signal.wait(timeout: deadline) == .timedOut {
            engine.fail("no hello within \(formatSeconds(helloTimeout)) s")
            throw PPError(.noEngine, "\(what) did not start: no hello within \(formatSeconds(helloTimeout)) s")
        }
        switch verdict.result.withLock({ $0 })! {
        case .success: return engine
        case .failure(let e): throw e
        }
    }
}
