// The dashboard's brain without a terminal: polls the source, turns keys into UI changes and source calls, and renders frames.
import PPKit
import PPSource
import PPTerm

/// Drives one dashboard: owns the UI state and the last snapshot; the app loop (or a test) feeds it keys, ticks and sizes.
///
/// Used from one thread (the app loop's); not Sendable.
public final class DashboardController {
    public let source: any DashboardSource
    public private(set) var state = UIState()
    public private(set) var snapshot: Snapshot
    public private(set) var size: Size
    public let capabilities: TermCapabilities
    /// Monotonic seconds, for message expiry (injectable for tests).
    private let clock: () -> Double
    private var lastQuery: TableQuery?
    private var lastDetailGeneration: UInt64?
    private var message: (value: StatusMessage, at: Double)?
    /// Seconds between refreshes of what changes every frame but is read at a glance: the header, the engine rows,
    /// the progress widget's clocks and rates (bars, counts and the table follow every poll). 0: all every poll.
    /// The app uses 1 s: at 10 Hz these figures cost two thirds of the bytes sent to the terminal.
    public var calmInterval: Double = 0
    private var calm: (snapshot: Snapshot, at: Double)?
    /// Bytes `y` asked to put on the terminal's clipboard, for the app loop to send as OSC 52 (then set back to nil).
    public var pendingClipboard: [UInt8]?
    /// How long an information message / an error stays on the status line, in seconds.
    public var messageLifetime = (info: 5.0, error: 12.0)

    /// The most batches that ever get a bar.
    private let maxBatches: Int
    /// Where the column chooser saves (`--config FILE`, else the default path); nil: nowhere to save.
    public var configPath: String?
    /// The generation and time the triage groups were read at (re-read when tasks changed, at most once a second).
    private var triageRead: (generation: UInt64, at: Double)?

    /// A controller over `source` for a screen of `size`; takes the first snapshot at once.
    public init(
        source: any DashboardSource, size: Size, capabilities: TermCapabilities, batchLimit: Int = 16,
        clock: @escaping () -> Double = { Double(SystemClock().monotonicNanoseconds()) / 1e9 }
    ) {
        self.source = source
        self.size = size
        self.capabilities = capabilities
        self.clock = clock
        maxBatches = max(1, batchLimit)
        snapshot = Snapshot(
            time: Timestamp(microseconds: 0), startedAt: Timestamp(microseconds: 0), generation: 0, paused: false,
            totals: StatusCounts(), rate: 0, engines: [], batches: [], batchCount: 0, table: .empty)
        state.readOnly = source.readOnly
        poll(force: true)
    }

    /// Takes a fresh snapshot (unless frozen and nothing the table shows has changed), then brings selection, scroll and the detail view up to date.
    public func poll(force: Bool = false) {
        updateViewport()
        if force || !state.frozen || state.query != lastQuery { fetch() }
        // The first fetch may change how many rows fit (engines joined, batches added): ask again once.
        updateViewport()
        if state.query != lastQuery { fetch() }
        refreshDetail()
        refreshTriage()
        expireMessage()
    }

    /// Handles one key; returns `.quit` when the user quits.
    @discardableResult
    public func handle(_ key: Key) -> DashboardExit? {
        if key == .resize { return nil }
        if case .mouse(let event) = key {
            handleMouse(event)
            return nil
        }
        updateViewport()
        let before = state.query
        let effects = state.handle(key, snapshot: snapshot)
        var changed = state.query != before
        for effect in effects {
            if effect == .quit { return .quit }
            perform(effect)
            changed = true
        }
        noteMessage()
        if changed { poll(force: true) } else { refreshDetail() }
        return nil
    }

    /// Adopts a new terminal size.
    public func resize(to newSize: Size) {
        guard newSize != size else { return }
        size = newSize
        poll(force: true)
    }

    /// The source's upkeep between frames (`DashboardSource.idle`): the app loop calls it once per refresh, after
    /// the frame. Returns whether more is left.
    @discardableResult
    public func idle() -> Bool { source.idle() }

    /// The frame for the current state.
    public func frame() -> Canvas {
        render(snapshot, state, size: size, capabilities: capabilities, calm: calmInterval > 0 ? calm?.snapshot : nil)
    }

    /// Changes the state directly (tests, and the app's status messages).
    public func update(_ change: (inout UIState) -> Void) {
        change(&state)
        noteMessage()
    }

    // MARK: Internals

    private func fetch() {
        let query = state.query
        snapshot = source.snapshot(query)
        lastQuery = query
        // An attached view turns read-only when the ppdash it watched ends (its journal shows then).
        if source.readOnly != state.readOnly { state.readOnly = source.readOnly }
        if (query.timelineCells ?? 0) > 0, snapshot.engineCount > 0, snapshot.lanes == nil,
            snapshot.engines.allSatisfy({ $0.timeline == nil })
        {
            state.streamUnsupported = true  // a source without a task stream: not shown unless asked for (t)
        }
        if calmInterval > 0 {
            let now = clock()
            if let c = calm, now - c.at < calmInterval, !c.snapshot.calmIsStale(comparedTo: snapshot) {
            } else {
                calm = (snapshot, now)
            }
        }
        state.reconcile(with: snapshot)
    }

    private func updateViewport() {
        state.viewport = viewport(for: snapshot, state, size: size, capabilities: capabilities)
        // Ask for as many batches as bars fit (one row goes to the total bar), up to the configured cap.
        let room = Layout(
            size: size, engines: snapshot.engineCount, bars: maxBatches + 1,
            streamLanes: streamLanes(snapshot, state, size: size)
        ).barRows
        state.batchLimit = max(1, min(maxBatches, room - 1))
    }

    /// Re-reads the failure groups while the triage is open and tasks changed (at most once a second).
    private func refreshTriage(force: Bool = false) {
        guard state.showTriage else {
            if state.triage != nil { state.triage = nil }
            triageRead = nil
            return
        }
        let now = clock()
        if !force, let r = triageRead, r.generation == snapshot.generation || now - r.at < 1 { return }
        triageRead = (snapshot.generation, now)
        state.adoptTriage(source.failureGroups())
    }

    /// Reloads the detail view's task when the scheduler changed (a running task's output grows).
    private func refreshDetail() {
        guard state.mode == .detail, let id = state.detailTask else { return }
        // The running task's engine meters, from this snapshot.
        let meters = state.detail.flatMap { d in d.status == .running ? d.engine : nil }.flatMap { e in
            snapshot.engine(id: e)?.meters
        }
        if state.detailMeters != meters { state.detailMeters = meters }
        if state.detail?.id == id, lastDetailGeneration == snapshot.generation, state.detail?.status.isFinished == true
        {
            return
        }
        // A running task is read again each tick: its output grows without a change of the scheduler's generation.
        if state.detail?.id != id || lastDetailGeneration != snapshot.generation || state.detail?.status == .running {
            state.detail = source.metadata(id)
            lastDetailGeneration = snapshot.generation
            if state.detail == nil { say("task \(id) is not known to the scheduler", error: true) }
            updateViewport()
        }
    }

    private func perform(_ effect: Effect) {
        do {
            switch effect {
            case .submit(let line):
                let batch = try source.submit(Submission(line: line))
                say("batch \(batch) submitted: \(line)")
            case .abortTask(let id):
                source.abort(task: id)
                say("task \(id): abort requested")
            case .abortBatch(let batch):
                source.abort(batch: batch)
                say("batch \(batch): abort requested")
            case .retryTask(let id):
                try source.retry(task: id)
                say("task \(id) queued again")
            case .retryFailed(let batch):
                let n = try source.retryFailed(batch: batch)
                say(
                    n == 0
                        ? "batch \(batch) has no failed tasks to retry"
                        : "batch \(batch): \(n) failed task\(n == 1 ? "" : "s") queued again")
            case .setPaused(let paused):
                source.setPaused(paused)
                say(
                    paused ? "dispatch paused: running tasks finish, pending ones wait (p resumes)" : "dispatch resumed"
                )
            case .addEngine:
                let id = try source.addEngine()
                say("engine \(id) added")
            case .removeEngine(let id):
                let removed = try source.removeEngine(id)
                say("engine \(removed) removed (it finishes its current task first)")
            case .fetchDetail:
                lastDetailGeneration = nil
                refreshDetail()
            case .stopBatch:
                source.stopAll()
                say("batch stopped: pending tasks aborted, running ones signalled")
            case .copy(let text, let what):
                copy(text, what: what)
            case .fetchTriage:
                refreshTriage(force: true)
            case .retryTasks(let ids):
                var queued = 0
                var refused: [String] = []
                for id in ids {
                    do {
                        try source.retry(task: id)
                        queued += 1
                    } catch {
                        refused.append("\(id)")
                    }
                }
                say(
                    "\(queued) task\(queued == 1 ? "" : "s") queued again (on other engines first)"
                        + (refused.isEmpty ? "" : "; not retried: " + refused.prefix(5).joined(separator: ", ")
                            + (refused.count > 5 ? " and \(refused.count - 5) more" : "")),
                    error: queued == 0)
                refreshTriage(force: true)
            case .setExcluded(let id, let excluded):
                try source.setExcluded(engine: id, excluded)
                say(
                    excluded
                        ? "engine \(id) excluded from new work (it finishes what it holds; x includes it again)"
                        : "engine \(id) takes work again")
            case .saveColumns(let columns):
                guard let path = configPath else {
                    say("no config file to save to (set HOME or XDG_CONFIG_HOME, or pass --config FILE)", error: true)
                    return
                }
                do throws(ConfigError) {
                    try ConfigFile.save(columns: columns, sort: state.sort, ascending: state.ascending, to: path)
                    say("columns saved to \(path)")
                } catch {
                    say(error.description, error: true)
                }
            case .quit:
                break
            }
        } catch {
            say(describe(effect) + ": " + String(describing: error), error: true)
        }
    }

    private func describe(_ effect: Effect) -> String {
        switch effect {
        case .submit: "submit failed, nothing submitted"
        case .retryTask(let id): "cannot retry task \(id)"
        case .retryFailed(let batch): "cannot retry batch \(batch)"
        case .addEngine: "cannot add an engine"
        case .removeEngine: "cannot remove an engine"
        case .setExcluded(let id, let excluded): "cannot \(excluded ? "exclude" : "include") engine \(id)"
        default: "failed"
        }
    }

    func say(_ text: String, error: Bool = false) {
        state.message = StatusMessage(text, isError: error)
        noteMessage()
    }

    /// Starts the expiry clock of a message that just appeared.
    private func noteMessage() {
        guard let m = state.message else {
            message = nil
            return
        }
        if message?.value != m { message = (m, clock()) }
    }

    private func expireMessage() {
        guard let m = message, state.message == m.value else { return }
        let life = m.value.isError ? messageLifetime.error : messageLifetime.info
        if clock() - m.at >= life {
            state.message = nil
            message = nil
        }
    }
}
