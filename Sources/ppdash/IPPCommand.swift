import ArgumentParser
import Foundation
import PPIPP
import PPKit
import PPSource

/// `ppdash ipp`: the dashboard (or JSON) on a running IPython Parallel cluster.
struct IPPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipp",
        abstract: "Watch and feed a running IPython Parallel cluster.",
        discussion: """
            Connects to the controller named by a connection file: PROFILE's \
            security/ipcontroller[-<cluster-id>]-client.json under $IPYTHONDIR (default ~/.ipython), or a path.
            On a terminal, opens the dashboard: the cluster's engines, every task the hub records (any client's), \
            one batch per client burst; 's' submits a shell sweep to the load-balanced scheduler.
            --json prints engines and task records once; --follow streams changes as JSON Lines.
            --submit 'TEMPLATE ::: ARGS' submits a shell sweep, waits, prints its tasks as JSON Lines \
            (exit 1 if any failed).
            Needs libzmq at run time (apt-get install libzmq5, or PPDASH_LIBZMQ=/path/to/libzmq.so).
            """)

    @Argument(help: "Profile name (default: default) or path to an ipcontroller-client.json.")
    var target: String?

    @Option(name: .customLong("cluster-id"), help: "The cluster id (ipcontroller-<ID>-client.json).")
    var clusterId: String?

    @Flag(help: "Print the engines and every task record once, as one JSON document, and exit.")
    var json = false

    @Flag(help: "Stream engine and task changes as JSON Lines until interrupted.")
    var follow = false

    @Option(help: "Submit a shell sweep ('TEMPLATE ::: ARGS'), wait for it, print its tasks as JSON Lines.")
    var submit: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds to keep retrying an unreachable controller before giving up (--json and --submit).", valueName: "SECONDS"))
    var timeout = Seconds(30)

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Task records a second to ask the hub for during a flood of tasks, or 'all'. Each record costs the "
                + "controller a deep copy: 'all' adds 15-30% to a flooded controller's CPU; the default keeps it "
                + "under 5%, and rows the hub dropped meanwhile (it keeps 1,024) say so.",
            valueName: "RATE|all"))
    var records = RecordRate.standard

    @OptionGroup var refresh: RefreshOption

    func validate() throws {
        try timeout.check("--timeout")
        if json && follow { throw ValidationError("--json prints once and --follow streams: choose one") }
        if case .perSecond(let n, let text) = records, !(n.isFinite && (0...RecordRate.most).contains(n)) {
            throw ValidationError(
                "--records must be 'all' or a number of records a second from 0 to \(Int(RecordRate.most)) (got \(text))")
        }
    }

    func run() throws {
        let info: ConnectionInfo
        let source: IPPSource
        do {
            let path = try ConnectionInfo.resolve(target, clusterId: clusterId)
            info = try ConnectionInfo.load(path: path)
            if let ssh = info.ssh {
                note("ppdash: note: this cluster expects an ssh tunnel through \(ssh); ppdash connects directly")
            }
            var options = IPPSource.Options()
            options.trackChanges = follow
            options.budget = records.budget
            source = try IPPSource(info: info, options: options)
        } catch {
            note("ppdash: \(error)")  // IPPError or ZMQError: their message
            throw ExitCode(1)
        }
        defer { source.stop() }
        let dashboard = isInteractive && !json && !follow && submit == nil
        try connect(source, info: info, giveUpAfter: dashboard || follow ? nil : timeout.value)
        if let e = source.hubError { note("ppdash: \(e)") }

        if let line = submit {
            try runSubmit(source, line: line)
        } else if follow {
            runFollow(source)
        } else if dashboard {
            note("ppdash: \(try openDashboard(source, refresh: refresh)); printing the cluster's state as JSON instead")
            print(IPPJSON.document(source.mirror, info: source.info))
        } else {
            print(IPPJSON.document(source.mirror, info: source.info))
        }
    }

    /// Waits for the first full load, saying on stderr what goes wrong; a wrong key ends at once.
    func connect(_ source: IPPSource, info: ConnectionInfo, giveUpAfter: Double?) throws {
        let start = Date()
        var lastAttempt = -1
        while true {
            if source.waitForSync(1, timeout: 0.25) { return }
            let link = source.link
            if link.probablyWrongKey {
                note("ppdash: " + link.message(source.info))
                throw ExitCode(1)
            }
            if case .notAnswering(let attempt, _, _) = link, attempt != lastAttempt {
                lastAttempt = attempt
                note("ppdash: " + link.message(source.info) + (giveUpAfter == nil ? "; Ctrl-C to stop" : ""))
            }
            if let limit = giveUpAfter, Date().timeIntervalSince(start) > limit {
                note(
                    "ppdash: gave up after \(String(format: "%g", limit)) s: controller at "
                        + "\(source.info.controllerURL) not answering")
                throw ExitCode(1)
            }
        }
    }

    func runSubmit(_ source: IPPSource, line: String) throws {
        let batch: BatchID
        do { batch = try source.submit(line: line) } catch let e as IPPError {
            note("ppdash: --submit: \(e)")
            throw ExitCode(1)
        } catch {
            throw ValidationError("--submit: \(error)")
        }
        note("ppdash: batch \(batch) submitted to \(source.info.url(source.info.task))")
        var lastLink = source.link
        var lastGone: String?
        var goneSince: Date?
        while true {
            let m = source.mirror
            let b = m.batches[batch - 1]
            let gone = m.controllerGone
            if let gone, gone != lastGone {
                note("ppdash: the controller at \(source.info.controllerURL) is gone: \(gone)")
            }
            if gone == nil {
                goneSince = nil
            } else if goneSince == nil {
                goneSince = Date()
            }
            lastGone = gone
            if b.counts.done == b.size {
                var failed = 0
                for i in 0..<m.taskCount where m.row(at: i).batch == batch {
                    print(IPPJSON.task(i, mirror: m))
                    if m.row(at: i).status != .ok { failed += 1 }
                }
                fflush(nil)
                let snap = m.batchSnapshot(b, now: SystemClock().now())
                let secs = b.first.seconds(to: snap.finished ?? SystemClock().now())
                note(
                    "ppdash: batch \(batch) (\(b.label)): \(b.size) task\(b.size == 1 ? "" : "s"), \(b.counts.ok) ok, "
                        + "\(b.size - b.counts.ok) failed in \(String(format: "%.2f", secs)) s "
                        + "(\(String(format: "%.1f", snap.rate))/s)")
                if failed > 0 { throw ExitCode(1) }
                return
            }
            if let gone, let since = goneSince, Date().timeIntervalSince(since) > timeout.value {
                // A hung controller may hold the tasks yet; ppdash stops waiting and says they are lost to it.
                source.lose(
                    batch: batch,
                    reason: "controller gone: \(gone); --submit gave up after \(String(format: "%g", timeout.value)) s")
                continue
            }
            let link = source.link
            if link.kind != lastLink.kind, case .notAnswering = link { note("ppdash: " + link.message(source.info)) }
            lastLink = link
            usleep(100_000)
        }
    }

    func runFollow(_ source: IPPSource) {
        var lastLink = source.link
        var first = true
        var lastController: String?
        var turnStart = Double(SystemClock().monotonicNanoseconds()) / 1e9
        while true {
            let info = source.info
            let all = first
            let trace = IPPTrace.shared
            // The first turn's lines (every task) are made under the source's lock from its mirror in place (no copy
            // of every row). Later turns copy only the changed rows under it (their strings are shared, not copied)
            // and make their lines after releasing it: the poll thread waits on that lock.
            let (controller, lines, changed, finishedAll) = source.withChanges {
                m, rows, engines -> (String, [String], [(Int, IPPMirror.Row)], [String]) in
                var out: [String] = []
                for id in all ? m.engines.keys.sorted() : engines {
                    if let e = m.engines[id] { out.append(IPPJSON.engine(e, mirror: m, event: true)) }
                }
                var finished: [String] = []
                if all {
                    for i in 0..<m.taskCount {
                        out.append(IPPJSON.task(i, mirror: m, event: true))
                        if trace != nil, m.row(at: i).status.isFinished { finished.append(m.row(at: i).msgId) }
                    }
                }
                return (IPPJSON.controller(m, info: info), out, all ? [] : rows.map { ($0, m.row(at: $0)) }, finished)
            }
            first = false
            if controller != lastController {
                print(controller)
                lastController = controller
            }
            for line in lines { print(line) }
            for (i, row) in changed { print(IPPJSON.task(row, index: i, event: true)) }
            fflush(nil)
            let finished =
                trace == nil ? [] : finishedAll + changed.filter { $0.1.status.isFinished }.map { $0.1.msgId }
            if let trace, !finished.isEmpty {
                let at = IPPTrace.now()
                trace.write(finished.map { "out \($0) \(at)" })
            }
            let link = source.link
            if link.kind != lastLink.kind {
                note("ppdash: " + link.message(source.info))
                lastLink = link
            }
            // Completions arrive on IOPub as they happen: print them as soon as the poll thread applied them, at
            // most every 20 ms under a flood (one flush per batch of lines), and look at the link at least every
            // quarter second.
            let since = Double(SystemClock().monotonicNanoseconds()) / 1e9 - turnStart
            if since < 0.02 { usleep(useconds_t((0.02 - since) * 1e6)) }
            _ = source.waitForChanges(timeout: 0.25)
            turnStart = Double(SystemClock().monotonicNanoseconds()) / 1e9
        }
    }
}

/// `--records`: how many task records a second `ppdash ipp` asks the hub for during a flood, or all of them.
enum RecordRate: ExpressibleByArgument, Sendable {
    case all
    /// The rate, and the argument as given (so an error shows what the user wrote).
    case perSecond(Double, String)

    /// More than any hub serves: DictDB copies a record in a few hundred µs.
    static let most: Double = 1_000_000

    /// The flood budget's own rate.
    static var standard: RecordRate {
        let n = RecordBudget().perSecond
        return .perSecond(n, String(format: "%g", n))
    }

    init?(argument: String) {
        if argument == "all" {
            self = .all
        } else if let n = Double(argument) {
            self = .perSecond(n, argument)
        } else {
            return nil
        }
    }

    var defaultValueDescription: String {
        switch self {
        case .all: "all"
        case .perSecond(_, let text): text
        }
    }

    var budget: RecordBudget {
        switch self {
        case .all: .unlimited
        case .perSecond(let n, _): RecordBudget(perSecond: n)
        }
    }
}
