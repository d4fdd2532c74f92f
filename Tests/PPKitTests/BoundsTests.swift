import Foundation
import NIOCore
import Synchronization
import Testing
@testable import PPKit

@Suite("bounds: bad input and a faulty worker are errors, never a trap")
struct BoundsTests {
    @Test("retries outside 0...1000 are refused at submit; the bounds themselves are taken")
    func retriesBounded() throws {
        let client = makeClient(1)
        defer { client.shutdown() }
        for bad in [-1, ViewFlags.maxRetries + 1, 65536, Int.max] {
            let view = client.loadBalancedView().with { $0.retries = bad }
            let e = #expect(throws: PPError.self) { _ = try view.submit(builtins: [.noop]) }
            #expect(e?.code == .invalidArgument)
            #expect(e?.message == "retries must be from 0 to 1000 (got \(bad))")
        }
        for good in [0, ViewFlags.maxRetries] {
            let ar = try client.loadBalancedView().with { $0.retries = good }.submit(builtins: [.noop])
            #expect(try ar.get(timeout: 10) == [0])
        }
    }

    @Test("a user's retries saturate the record's counter instead of overflowing it")
    func retryCounterSaturates() {
        var r = TaskRecord(batch: BatchSlot(index: 0), seq: 1, submitted: 0)
        r.retries = .max - 1
        r.countRetry()
        #expect(r.retries == .max)
        r.countRetry()
        #expect(r.retries == .max)
    }

    @Test("a cartesian product of any size that can be numbered is accepted; past Int.max it is refused with one line")
    func productBounded() throws {
        let big = try Sweep.parse(words: ["echo {}", ":::", "1..1000", ":::", "1..1000", ":::", "1..1000"])
        #expect(try big.checkedCount() == 1_000_000_000)
        #expect(big.arguments(at: 999_999_999) == ["1000", "1000", "1000"])
        #expect(try Sweep.parse(line: "echo {} ::: 1..1000 ::: 1..1000 ::: 1..1000") == big)
        // 1000^7 overflows Int: the count saturates, the message says so.
        let group = ArgGroup((1...1000).map(String.init))
        let huge = Sweep(template: try Template("echo"), groups: Array(repeating: group, count: 7))
        let overflow = try #require(throws: SweepError.self) { try huge.checkedCount() }
        #expect(overflow.message == "the arguments make over 9,223,372,036,854,775,807 tasks: too many to number")
        // The library refuses it too, before making anything.
        let client = makeClient(1)
        defer { client.shutdown() }
        let refused = #expect(throws: PPError.self) { _ = try client.loadBalancedView().submit(huge) }
        #expect(refused?.code == .invalidArgument)
        #expect(refused?.message == overflow.message)
        #expect(try Sweep.parse(words: ["echo", ":::", "1..3", ":::", "a", "b"]).count == 6)
    }

    @Test("a worker reporting ok without a value, or with the wrong kind, fails that task with a reason")
    func okWithoutValue() throws {
        let scheduler = Scheduler()
        let client = Client(scheduler: scheduler, engineFactory: { ManualEngine() })
        let engine = ManualEngine()
        client.addEngine(engine)
        let ar = try client.loadBalancedView().submit(builtins: [.sleepSquare(x: 3, seconds: 0)])
        #expect(eventually { engine.held.count == 1 })
        engine.finishFirst(value: nil)
        #expect(ar.wait(timeout: 5))
        #expect(ar.metadata(0)?.status == .error)
        #expect(ar.metadata(0)?.error == "the worker reported ok without a value")
        #expect(throws: TaskFailure.self) { _ = try ar.get(timeout: 5) }

        let shell = try client.loadBalancedView().submit(try Sweep.parse(words: ["echo", ":::", "1"]))
        #expect(eventually { engine.held.count == 1 })
        engine.finishFirst(value: 7)
        #expect(shell.wait(timeout: 5))
        #expect(shell.metadata(0)?.error == "the worker reported ok with a value that is not a shell result")
        #expect(throws: TaskFailure.self) { _ = try shell.get(timeout: 5) }

        // A retry lets a good report through.
        let retried = try client.loadBalancedView().with { $0.retries = 1 }.submit(builtins: [.sleepSquare(x: 4, seconds: 0)])
        #expect(eventually { engine.held.count == 1 })
        engine.finishFirst(value: nil)
        #expect(eventually { engine.held.count == 1 })
        engine.finishFirst(value: 16)
        #expect(try retried.get(timeout: 5) == [16])
        #expect(retried.metadata(0)?.retries == 1)
    }

    // MARK: durations

    @Test("infinite and NaN run-time limits and dependency timeouts are refused at submit; huge finite ones do not trap")
    func durationsFinite() throws {
        let client = makeClient(1)
        defer { client.shutdown() }
        for bad in [Double.infinity, -Double.infinity, .nan] {
            let limit = #expect(throws: PPError.self) {
                _ = try client.loadBalancedView().with { $0.runTimeLimit = bad }.submit(builtins: [.noop])
            }
            #expect(limit?.message.contains("the run-time limit must be a finite number of seconds > 0") == true)
            let dep = #expect(throws: PPError.self) {
                _ = try client.loadBalancedView().with { $0.dependencyTimeout = bad }.submit(builtins: [.noop])
            }
            #expect(dep?.message.contains("the dependency timeout must be a finite number of seconds >= 0") == true)
        }
        // 1e300 s: far past any deadline in nanoseconds; clamped, not trapped.
        let ar = try client.loadBalancedView().with {
            $0.runTimeLimit = 1e300
            $0.dependencyTimeout = 1e300
        }.submit(builtins: [.sleepSquare(x: 3, seconds: 0), .noop])
        #expect(try ar.get(timeout: 10).count == 2)
        let closure = try client.loadBalancedView().with { $0.runTimeLimit = 1e300 }.mapAsync({ (x: Int) in x + 1 }, [4])
        #expect(try closure.get(timeout: 10) == [5])
    }

    @Test("f(x) = x*x past 64 bits is the task's error, not a trap")
    func squareOverflow() throws {
        let client = makeClient(1)
        defer { client.shutdown() }
        let ar = try client.loadBalancedView().submit(builtins: [.sleepSquare(x: Int.max, seconds: 0)])
        #expect(ar.wait(timeout: 10))
        #expect(ar.metadata(0)?.status == .error)
        #expect(ar.metadata(0)?.error?.contains("does not fit in 64 bits") == true)
    }

    // MARK: values from a peer

    @Test("an engine reporting timestamps at Int64's ends fails nothing but its own figures: the scheduler lives")
    func hostileTimestampsInProcess() throws {
        let scheduler = Scheduler()
        let client = Client(scheduler: scheduler, engineFactory: { ManualEngine() })
        let engine = ManualEngine()
        client.addEngine(engine)
        let ar = try client.loadBalancedView().submit(builtins: [.noop, .noop, .noop])
        let stamps: [(Int64, Int64)] = [(.max, .min), (1, .max), (1, .max)]
        for (started, completed) in stamps {
            #expect(eventually { engine.held.count == 1 })
            let (id, sink, a) = engine.s.withLock { st in (st.id, st.sink, st.queue.removeFirst()) }
            sink?.engineFinished(
                id, task: a.task,
                outcome: TaskOutcome(
                    status: .ok, value: 0, started: Timestamp(microseconds: started),
                    completed: Timestamp(microseconds: completed)))
        }
        #expect(ar.wait(timeout: 5))
        #expect(try ar.get(timeout: 1) == [0, 0, 0])
        #expect(try ar.serialTime > 0, "saturated, not overflowed")
        _ = ar.metadata.map(\.duration)
        _ = try ar.wallTime
    }

    /// Every field a worker sends, at values that used to be taken and could overflow later arithmetic.
    static let hostileFrames: [(WireMessage, String)] = [
        (.result(WireResult(task: 1, status: .ok, started: .max, completed: .min)), "timestamp"),
        (.result(WireResult(task: 1, status: .ok, started: -1, completed: 5)), "timestamp"),
        (.result(WireResult(task: 1, status: .ok, started: 5, completed: WireProtocol.timestamps.upperBound + 1)), "timestamp"),
        (.started(task: 1, at: .max, processGroup: 0), "timestamp"),
        (.started(task: 1, at: 5, processGroup: -1), "process group"),
        (.result(WireResult(task: 1, status: .error, stdout: CapturedOutput(text: "", droppedBytes: .max), started: 1, completed: 2)), "count"),
        (.result(WireResult(task: 1, status: .error, exitStatus: 300, started: 1, completed: 2)), "exit status"),
        (.result(WireResult(task: 1, status: .error, exitStatus: -1, started: 1, completed: 2)), "exit status"),
        (.result(WireResult(task: 1, status: .error, signal: -9, started: 1, completed: 2)), "signal"),
        (.hello(WireHello(host: "node", pid: -1, cores: 1)), "pid"),
        (.hello(WireHello(host: "node", pid: 1, cores: -4)), "core count"),
        (.hello(WireHello(host: "node", pid: 1, cores: .max)), "core count"),
        (.hello(WireHello(host: "evil\u{1B}[2J", pid: 1, cores: 1)), "control characters"),
        (.hello(WireHello(host: String(repeating: "h", count: 256), pid: 1, cores: 1)), "host name"),
        (.welcome(WireWelcome(heartbeatMillis: 0)), "heartbeat"),
        (.run(WireRun(task: 1, work: .builtin(.noop), runTimeLimit: .nan, maxOutput: 1, slot: 1, workingDirectory: nil, environment: [])), "run-time limit"),
        (.run(WireRun(task: 1, work: .builtin(.noop), runTimeLimit: 0, maxOutput: 1, slot: 1, workingDirectory: nil, environment: [])), "run-time limit"),
        (.run(WireRun(task: 1, work: .builtin(.noop), runTimeLimit: -1, maxOutput: 1, slot: 1, workingDirectory: nil, environment: [])), "run-time limit"),
        (.run(WireRun(task: 1, work: .builtin(.sleepSquare(x: 1, seconds: .nan)), runTimeLimit: nil, maxOutput: 1, slot: 1, workingDirectory: nil, environment: [])), "sleep"),
        (.run(WireRun(task: 1, work: .builtin(.noop), runTimeLimit: nil, maxOutput: 1, slot: -1, workingDirectory: nil, environment: [])), "slot"),
    ]

    @Test("a peer's timestamps, sizes, counts and names are checked at decode: each bad one is a malformed frame")
    func wireFieldsChecked() {
        for (message, field) in Self.hostileFrames {
            var frame = message.frame
            do {
                let got = try FrameParser().next(&frame)
                Issue.record("\(message) decoded as \(String(describing: got))")
            } catch {
                #expect(error.code == .malformed, "\(message)")
                #expect(error.message.contains(field), "\(error.message) names \(field)")
            }
        }
        // Durations past the longest a frame carries are sent as it: the same in effect, never refused.
        let long = WireMessage.run(
            WireRun(task: 1, work: .builtin(.sleepSquare(x: 2, seconds: .infinity)), runTimeLimit: .infinity, maxOutput: 1, slot: 1,
                workingDirectory: nil, environment: []))
        var frame = long.frame
        guard case .run(let r)? = try? FrameParser().next(&frame) else {
            Issue.record("an infinite run-time limit was not sent as the longest")
            return
        }
        #expect(r.runTimeLimit == WireProtocol.longestSeconds)
        #expect(r.work == .builtin(.sleepSquare(x: 2, seconds: WireProtocol.longestSeconds)))
    }

    @Test("a connected worker holding the token that reports started = INT64_MAX, completed = INT64_MIN kills only its engine")
    func hostileConnectedWorker() throws {
        let scheduler = Scheduler()
        let log = Recorder<String>()
        var options = RemoteEngineOptions()
        options.heartbeat = 0.2
        options.log = { log.append($0) }
        let token = EngineToken.random()
        let listener = try EngineListener(scheduler: scheduler, port: 0, token: token, tokenPath: "/t", options: options)
        defer { listener.close() }
        let client = Client(scheduler: scheduler) { InProcessEngine() }
        defer { client.shutdown() }

        let worker = try #require(RawSocket(port: listener.port))
        guard case .challenge(let challenge)? = worker.receive(timeout: 5) else {
            Issue.record("no challenge from the listener")
            return
        }
        let nonce = EngineToken.nonce()
        worker.send(.hello(WireHello(host: "hostile", pid: 1, cores: 1, nonce: nonce,
            proof: token.workerProof(challenge: challenge, workerNonce: nonce))))
        guard case .welcome? = worker.receive(timeout: 5) else {
            Issue.record("the worker holding the token was not welcomed")
            return
        }
        #expect(eventually { scheduler.engineIDs.count == 1 })
        let ar = try client.loadBalancedView().submit(builtins: [.noop])
        guard case .run(let run)? = worker.receive(timeout: 5) else {
            Issue.record("no task sent to the worker")
            return
        }
        worker.send(.started(task: run.task, at: SystemClock().now().microseconds, processGroup: 0))
        worker.send(.result(WireResult(task: run.task, status: .ok, value: .integer, integer: 0, started: .max, completed: .min)))
        #expect(ar.wait(timeout: 10), "the task ends")
        #expect(ar.metadata(0)?.status == .error)
        #expect(ar.metadata(0)?.error?.contains("timestamp") == true, "\(String(describing: ar.metadata(0)?.error))")
        #expect(scheduler.engineIDs.isEmpty, "its engine is dead")
        #expect(worker.readToEnd(timeout: 5).closed, "its link is closed")
        // The scheduler lives on: another engine runs the next batch.
        client.addEngine(InProcessEngine())
        #expect(try client.loadBalancedView().submit(builtins: [.sleepSquare(x: 4, seconds: 0)]).get(timeout: 10) == [16])
    }

    // MARK: the token file

    private func tempDir(_ mode: mode_t = 0o700) -> String {
        let dir = NSTemporaryDirectory() + "ppdash-bounds-\(getpid())-\(Int.random(in: 0..<1_000_000_000))"
        mkdir(dir, mode)
        chmod(dir, mode)
        return dir
    }

    @Test("a token file that is a symlink, or in a directory others may write, is refused with what to do")
    func tokenFilePlace() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let real = dir + "/token"
        let made = try EngineToken.readOrCreate(path: real)
        #expect(try EngineToken.read(path: real) == made)
        // A symlink, even to a good token.
        symlink(real, dir + "/link")
        let link = #expect(throws: PPError.self) { try EngineToken.read(path: dir + "/link") }
        #expect(link?.message.contains("symbolic link") == true, "\(String(describing: link?.message))")
        #expect(throws: PPError.self) { try EngineToken.readOrCreate(path: dir + "/link") }
        // A dangling symlink planted where the token would be created.
        symlink(dir + "/elsewhere", dir + "/planted")
        #expect(throws: PPError.self) { try EngineToken.readOrCreate(path: dir + "/planted") }
        #expect(access(dir + "/elsewhere", F_OK) != 0, "nothing created through the link")
        // A world-writable directory (as /tmp): refused, reading and creating.
        let shared = tempDir(0o1777)
        defer { try? FileManager.default.removeItem(atPath: shared) }
        let create = #expect(throws: PPError.self) { try EngineToken.readOrCreate(path: shared + "/token") }
        #expect(create?.message.contains("others may write") == true, "\(String(describing: create?.message))")
        #expect(access(shared + "/token", F_OK) != 0)
        rename(real, shared + "/token")
        #expect(throws: PPError.self) { try EngineToken.read(path: shared + "/token") }
    }

    @Test("a 0600 token file owned by another user is refused", .enabled(if: geteuid() == 0, "needs root to chown"))
    func tokenFileOwner() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/token"
        _ = try EngineToken.readOrCreate(path: path)
        #expect(chown(path, 54321, 54321) == 0)
        let e = #expect(throws: PPError.self) { try EngineToken.read(path: path) }
        #expect(e?.message.contains("not to you") == true, "\(String(describing: e?.message))")
        // A directory of another user's: refused too.
        chown(path, 0, 0)
        #expect(chown(dir, 54321, 54321) == 0)
        #expect(throws: PPError.self) { try EngineToken.read(path: path) }
    }

    @Test("the default token path: HOME, else an XDG_RUNTIME_DIR of ours (0700), else a refusal; never the temp dir")
    func tokenDefaultPath() throws {
        #expect(try EngineToken.defaultPath(environment: ["HOME": "/home/u"]) == "/home/u/.ppdash/engine-token")
        let run = tempDir()
        defer { try? FileManager.default.removeItem(atPath: run) }
        #expect(try EngineToken.defaultPath(environment: ["HOME": "", "XDG_RUNTIME_DIR": run]) == run + "/ppdash/engine-token")
        chmod(run, 0o755)
        for env in [["XDG_RUNTIME_DIR": run], ["XDG_RUNTIME_DIR": "relative"], [:], ["XDG_RUNTIME_DIR": "/nonexistent-ppdash"]] {
            let e = #expect(throws: PPError.self) { try EngineToken.defaultPath(environment: env) }
            #expect(e?.message.contains("set HOME, or XDG_RUNTIME_DIR") == true, "\(String(describing: e?.message))")
        }
    }

    // MARK: engines that cannot start

    @Test("an ssh host that cannot be reached is one dead engine with its reason; the others run the batch")
    func deadHostIsOneDeadEngine() throws {
        var options = EngineLaunchOptions()
        // An ssh that fails as a dead host does, at once.
        options.sshCommand = ["/bin/sh", "-c", "echo 'ssh: Could not resolve hostname deadhost' >&2; exit 255"]
        let scheduler = Scheduler()
        let launcher = try EngineLauncher(
            specs: [.local(count: 1), .ssh(count: 2, login: SSHLogin(host: "deadhost"))], scheduler: scheduler, options: options)
        let client = launcher.makeClient()
        defer { client.shutdown() }
        #expect(launcher.failures.map(\.engine) == [1, 2])
        #expect(launcher.failures.allSatisfy { $0.reason.contains("ssh engine on deadhost did not start") })
        #expect(launcher.failures.allSatisfy { $0.reason.contains("Could not resolve hostname") }, "\(launcher.failures)")
        #expect(launcher.hasEngines)
        #expect(scheduler.engineIDs == [0])
        let engines = scheduler.read(batchLimit: 0).engines
        #expect(engines.count == 3)
        for e in engines.dropFirst() {
            guard case .dead(let reason) = e.state else {
                Issue.record("engine \(e.id) is \(e.state), not dead")
                continue
            }
            #expect(reason.contains("Could not resolve hostname"))
            #expect(e.info.host == "deadhost")
        }
        let ar = try client.loadBalancedView().submit(builtins: (0..<8).map { .sleepSquare(x: $0, seconds: 0) })
        #expect(try ar.get(timeout: 10) == (0..<8).map { $0 * $0 })

        // No engine at all can run: the launcher says so.
        let lone = Scheduler()
        let none = try EngineLauncher(specs: [.ssh(count: 1, login: SSHLogin(host: "deadhost"))], scheduler: lone, options: options)
        #expect(!none.hasEngines)
        #expect(none.failures.count == 1)
        lone.shutdown()
    }

    @Test("the workers of every spec start at once: three hosts that fail after 1 s cost about 1 s, not 3; ids follow the specs")
    func launchesOverlap() throws {
        var options = EngineLaunchOptions()
        options.sshCommand = ["/bin/sh", "-c", "sleep 1; echo 'ssh: connect to host: Connection timed out' >&2; exit 255"]
        let scheduler = Scheduler()
        let begin = Date()
        let launcher = try EngineLauncher(
            specs: [.ssh(count: 1, login: SSHLogin(host: "a")), .local(count: 1), .ssh(count: 2, login: SSHLogin(host: "b")),
                .ssh(count: 1, login: SSHLogin(host: "c"))],
            scheduler: scheduler, options: options)
        let took = Date().timeIntervalSince(begin)
        defer { scheduler.shutdown() }
        #expect(took < 2.5, "took \(took) s")
        #expect(launcher.failures.map(\.engine) == [0, 2, 3, 4])
        #expect(scheduler.read(batchLimit: 0).engines.map(\.info.host) == ["a", hostName(), "b", "b", "c"])
        #expect(scheduler.engineIDs == [1])
    }
}
