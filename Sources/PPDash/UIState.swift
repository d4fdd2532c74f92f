// Everything the dashboard shows besides the snapshot: focus, overlays, prompt, sort/filter, selection, scroll.
import PPKit
import PPSource
import PPTerm

/// What a key press asks of the outside world; the controller carries these out against the source.
public enum Effect: Sendable, Hashable {
    case submit(String)
    case abortTask(TaskID)
    case abortBatch(BatchID)
    case retryTask(TaskID)
    case retryFailed(BatchID)
    case setPaused(Bool)
    case addEngine
    case removeEngine(EngineID?)
    /// Load a task's metadata for the detail view.
    case fetchDetail(TaskID)
    /// Stop the whole batch (an attached view's `Q`, confirmed).
    case stopBatch
    /// Put `text` on the terminal's clipboard (OSC 52); `what` says what it is, for the message.
    case copy(text: String, what: String)
    /// Load the failure triage's groups.
    case fetchTriage
    /// Retry these failed tasks (a triage group's `R`).
    case retryTasks([TaskID])
    /// Exclude an engine from new work (true) or include it again.
    case setExcluded(EngineID, Bool)
    /// Save the table's columns (the column chooser).
    case saveColumns([SortKey])
    case quit
}

/// A line for the status bar.
public struct StatusMessage: Sendable, Hashable {
    public var text: String
    public var isError: Bool
    public init(_ text: String, isError: Bool = false) {
        self.text = text
        self.isError = isError
    }
}

/// How much of each scrollable thing the last layout could show (set by the controller from the layout).
public struct Viewport: Sendable, Hashable {
    public var tableRows = 10
    public var engineRows = 4
    /// Text rows of the detail and help overlays, and their content lengths.
    public var detailRows = 10
    public var detailLines = 0
    public var helpRows = 10
    public var helpLines = 0
    /// Task-stream cells a lane shows (0: the stream is hidden), and the lanes the pane has rows for.
    public var streamCells = 0
    public var streamLanes = 0
    /// Rows of the triage view's group list.
    public var triageRows = 10
    public init() {}
}

/// The dashboard's view state: a plain value, changed by keys (`handle`) and by snapshots (`reconcile`).
public struct UIState: Sendable, Hashable {
    /// The panes that take the focus in the main view.
    public enum Pane: Sendable, Hashable, CaseIterable { case engines, table }
    /// The main view, or one task's detail over it.
    public enum Mode: Sendable, Hashable { case main, detail }
    /// Which prompt is open at the bottom.
    public enum PromptKind: Sendable, Hashable { case submit, filter }

    public var focus: Pane = .table
    public var mode: Mode = .main
    public var showHelp = false
    public var prompt: PromptKind?
    public var editor = LineEditor()
    public var submitHistory: [String] = []
    public var filterHistory: [String] = []
    /// The "quit while tasks run?" question is showing.
    public var confirmingQuit = false
    /// An attached view's "stop the batch?" question is showing.
    public var confirmingStop = false
    /// The view is attached to another ppdash (`ppdash attach`): `q`/`d` detach, `Q` stops the batch.
    public var attached = false
    /// The display is frozen (`z`): the snapshot is not refreshed on the timer.
    public var frozen = false
    /// The task stream is shown (`t`); nil: shown when the terminal has room (`Layout.streamAutoRows`).
    public var streamShown: Bool?
    /// The task stream colours cells by batch instead of by outcome (`T`).
    public var streamByBatch = false
    /// The source was asked for task-stream cells and gave none (a journal, ipp): the stream is not shown unasked.
    public var streamUnsupported = false
    /// The source takes no commands (a journal read back): keys that change the work are hidden and do nothing.
    public var readOnly = false
    /// Mouse reporting is wanted (`m` toggles; `--no-mouse` starts with it off).
    public var mouse = true

    public var sort: SortKey = .id
    public var ascending = true
    public var filter = ""
    public var follow = false
    /// The selected row's index in the sorted, filtered table.
    public var selected = 0
    /// The selected row's task, when known (selection follows a task that moves within the window).
    public var selectedTask: TaskID?
    /// The table's first visible row.
    public var offset = 0

    public var engineSelected = 0
    public var engineOffset = 0

    public var detailTask: TaskID?
    public var detail: TaskMetadata?
    /// Detail scroll position; `Int.max` sticks to the bottom (tail) as output grows.
    public var detailScroll = 0
    public var helpScroll = 0

    /// The failure triage view is open (`!`), its groups (nil: loading or not available) and selection.
    public var showTriage = false
    public var triage: [FailureGroup]?
    public var triageSelected = 0
    public var triageOffset = 0
    /// The running detail task's meters (CPU, memory), from the snapshot's engine row.
    public var detailMeters: EngineMeters?
    /// The task table's columns, in order (the column chooser, the config file).
    public var columns: [SortKey] = SortKey.allCases
    /// The column chooser is open (`C`), and its cursor.
    public var showColumns = false
    public var columnCursor = 0
    /// The palette (the config file's `theme`).
    public var theme: ThemeName = .dark

    public var message: StatusMessage?
    public var viewport = Viewport()
    /// How many recent batches to ask for.
    public var batchLimit = 8

    public init() {}

    /// The task-table window to ask the source for: never more rows than fit.
    public var query: TableQuery {
        TableQuery(
            sort: sort, ascending: ascending, filter: filter, offset: offset, limit: max(1, viewport.tableRows),
            follow: follow, batchLimit: batchLimit, timelineCells: viewport.streamCells > 0 ? viewport.streamCells : nil,
            engineOffset: engineOffset, engineLimit: max(1, viewport.engineRows),
            streamLanes: viewport.streamCells > 0 ? max(1, viewport.streamLanes) : nil,
            alsoEngine: mode == .detail && detail?.status == .running ? detail?.engine : nil)
    }

    /// The scopes a key is looked up in, most specific first.
    public var scopes: [KeyScope] {
        if confirmingQuit || confirmingStop { return [.confirm] }
        if prompt != nil { return [.prompt] }
        let global: [KeyScope] = attached ? [.attached, .global] : [.global]
        if showHelp { return [.help, .moving] + global }
        if showColumns { return [.columns] + global }
        if showTriage { return [.triage, .moving] + global }
        if mode == .detail { return [.detail, .moving] + global }
        return [focus == .table ? .table : .engines, .main, .moving] + global
    }

    /// Applies a key; returns what the controller must do with the source.
    public mutating func handle(_ key: Key, snapshot: Snapshot?) -> [Effect] {
        if key == .resize { return [] }
        let binding = KeyMap.binding(for: key, in: scopes)
        if confirmingQuit {
            // Anything but yes means no.
            confirmingQuit = false
            return binding?.action == .confirmYes ? [.quit] : []
        }
        if confirmingStop {
            confirmingStop = false
            return binding?.action == .confirmYes ? [.stopBatch, .quit] : []
        }
        if prompt != nil {
            if let binding { return promptAction(binding.action) }
            if case .char(let c) = key { insert(c) }
            return []
        }
        guard let binding else { return [] }
        if readOnly && binding.action.changesWork {
            message = StatusMessage("read-only view: \(KeyMap.name(key)) changes nothing here", isError: true)
            return []
        }
        return perform(binding.action, snapshot: snapshot)
    }

    // MARK: Actions

    private mutating func perform(_ action: Action, snapshot: Snapshot?) -> [Effect] {
        switch action {
        case .toggleHelp:
            showHelp.toggle()
            helpScroll = 0
        case .quit:
            let open = snapshot.map { $0.totals.pending + $0.totals.running } ?? 0
            if open > 0 { confirmingQuit = true } else { return [.quit] }
        case .detach:
            return [.quit]
        case .stopBatch:
            confirmingStop = true
        case .escape:
            if showHelp {
                showHelp = false
            } else if showColumns {
                showColumns = false
            } else if showTriage {
                showTriage = false
                triage = nil
            } else if mode == .detail {
                closeDetail()
            } else if !filter.isEmpty {
                // The filter and a message go with one press (a message is not a thing to close first).
                setFilter("")
                message = nil
            } else if message != nil {
                message = nil
            }
        case .togglePause:
            return [.setPaused(!(snapshot?.paused ?? false))]
        case .toggleFreeze:
            frozen.toggle()
            message = StatusMessage(frozen ? "display frozen: the batch goes on (z to thaw)" : "display live again")
        case .addEngine:
            return [.addEngine]
        case .removeEngine:
            if focus == .engines, mode == .main, let e = snapshot?.engine(at: engineSelected) {
                return [.removeEngine(e.id)]
            }
            return [.removeEngine(nil)]
        case .openSubmit:
            showHelp = false
            prompt = .submit
            editor = LineEditor(history: submitHistory)
        case .openFilter:
            prompt = .filter
            editor = LineEditor(text: filter, history: filterHistory)
        case .nextPane, .previousPane:
            focus = focus == .table ? .engines : .table
        case .moveUp: move(by: -1, snapshot: snapshot)
        case .moveDown: move(by: 1, snapshot: snapshot)
        case .pageUp: move(by: -max(1, page - 1), snapshot: snapshot)
        case .pageDown: move(by: max(1, page - 1), snapshot: snapshot)
        case .top: move(to: 0, snapshot: snapshot)
        case .bottom: move(to: Int.max, snapshot: snapshot)
        case .openDetail:
            guard let row = selectedRow(in: snapshot) else {
                message = StatusMessage("no task selected", isError: true)
                break
            }
            mode = .detail
            detailTask = row.id
            detail = nil
            detailScroll = 0
            return [.fetchDetail(row.id)]
        case .sortNext, .sortPrevious:
            let all = SortKey.allCases
            let i = all.firstIndex(of: sort) ?? 0
            sort = all[(i + (action == .sortNext ? 1 : all.count - 1)) % all.count]
            resetTable()
        case .flipOrder:
            ascending.toggle()
            resetTable()
        case .toggleFollow:
            follow.toggle()
            if !follow, let snapshot { offset = snapshot.table.offset }
            message = StatusMessage(follow ? "follow: newest running tasks stay in view (f to stop)" : "follow off")
        case .abortTask:
            guard let (id, _, _) = actionTarget(snapshot) else { break }
            return [.abortTask(id)]
        case .abortBatch:
            guard let (_, batch, _) = actionTarget(snapshot) else { break }
            return [.abortBatch(batch)]
        case .retryTask:
            guard let (id, _, status) = actionTarget(snapshot) else { break }
            guard status.isFailure else {
                message = StatusMessage("task \(id) is \(status); only failed tasks can be retried", isError: true)
                break
            }
            return [.retryTask(id)]
        case .retryBatch:
            guard let (_, batch, _) = actionTarget(snapshot) else { break }
            return [.retryFailed(batch)]
        case .filterByEngine:
            guard let e = snapshot?.engine(at: engineSelected) else { break }
            focus = .table
            setFilter("e\(e.id)")
            message = StatusMessage("showing engine \(e.id)'s tasks (Esc shows all)")
        case .toggleStream:
            let shown = viewport.streamCells > 0
            streamShown = !shown
            if shown { message = StatusMessage("task stream hidden (t shows it)") }
        case .streamColouring:
            streamByBatch.toggle()
            message = StatusMessage("task stream coloured by " + (streamByBatch ? "batch" : "outcome") + " (T switches)")
        case .toggleMouse:
            mouse.toggle()
            message = StatusMessage(
                mouse
                    ? "mouse on: click selects, wheel scrolls, a column header sorts (m: off)"
                    : "mouse off: the terminal's own selection works (m: on)")
        case .copy:
            return copyEffect(snapshot)
        case .openTriage, .triageList, .triageRetry:
            return triageAction(action)
        case .toggleExclude:
            guard focus == .engines, let e = snapshot?.engine(at: engineSelected) else {
                message = StatusMessage("select an engine in the engines pane (Tab) to exclude it", isError: true)
                break
            }
            guard e.state.isAlive else {
                message = StatusMessage("engine \(e.id) is not running", isError: true)
                break
            }
            return [.setExcluded(e.id, !e.excluded)]
        case .openColumns, .columnToggle, .columnLeft, .columnRight, .columnSave, .columnReset:
            return columnAction(action)
        case .insertText, .edit, .accept, .cancel, .confirmYes, .confirmNo:
            break
        }
        return []
    }

    /// What `y` copies: in the detail view the task's output file (or, kept in memory, its output), else the selected
    /// task's command.
    private mutating func copyEffect(_ snapshot: Snapshot?) -> [Effect] {
        if mode == .detail {
            guard let d = detail else {
                message = StatusMessage("task \(detailTask.map { "\($0)" } ?? "") is still loading", isError: true)
                return []
            }
            if let path = d.stdout.spool ?? d.stderr.spool {
                return [.copy(text: path, what: "task \(d.id)'s output file path")]
            }
            let text = String(decoding: d.stdout.bytes, as: UTF8.self)
            if text.isEmpty {
                message = StatusMessage("task \(d.id) has no output file and no output to copy", isError: true)
                return []
            }
            return [.copy(text: text, what: "task \(d.id)'s output (it has no output file)")]
        }
        guard let row = selectedRow(in: snapshot) else {
            message = StatusMessage("no task selected", isError: true)
            return []
        }
        return [.copy(text: row.text, what: "task \(row.id)'s command")]
    }

    /// Applies a mouse click or wheel turn the controller placed on the screen.
    public mutating func apply(_ target: MouseTarget, snapshot: Snapshot?) {
        guard prompt == nil, !confirmingQuit, !confirmingStop else { return }
        switch target {
        case .none:
            break
        case .wheel(let delta, let pane):
            if !showHelp && mode == .main, let pane { focus = pane }
            move(by: delta, snapshot: snapshot)
        case .pane(let pane):
            guard mode == .main, !showHelp else { return }
            focus = pane
        case .tableRow(let index):
            guard mode == .main, !showHelp else { return }
            focus = .table
            moveSelection(to: index, snapshot: snapshot)
        case .tableHeader(let key):
            guard mode == .main, !showHelp else { return }
            focus = .table
            if sort == key { ascending.toggle() } else { sort = key; ascending = true }
            resetTable()
        case .engineRow(let index):
            guard mode == .main, !showHelp else { return }
            focus = .engines
            let count = snapshot?.engineCount ?? 0
            engineSelected = max(0, min(count - 1, index))
            keepEngineVisible()
        }
    }

    private mutating func promptAction(_ action: Action) -> [Effect] {
        switch action {
        case .edit(let edit):
            if editor.apply(edit), prompt == .filter { setFilter(editor.text) }
        case .accept:
            let line = editor.text
            editor.commit()
            if prompt == .submit {
                submitHistory = editor.history
                prompt = nil
                return line.trimmingSpaces.isEmpty ? [] : [.submit(line)]
            }
            filterHistory = editor.history
            setFilter(line)
            prompt = nil
        case .cancel:
            if prompt == .filter { setFilter("") }
            editor.clear()
            prompt = nil
        default:
            break
        }
        return []
    }

    private mutating func insert(_ c: Character) {
        editor.insert(c)
        if prompt == .filter { setFilter(editor.text) }
    }

    // MARK: Movement

    /// Rows a page moves in whatever is focused.
    private var page: Int {
        if showHelp { return viewport.helpRows }
        if showTriage { return viewport.triageRows }
        if mode == .detail { return viewport.detailRows }
        return focus == .table ? viewport.tableRows : viewport.engineRows
    }

    private mutating func move(by delta: Int, snapshot: Snapshot?) {
        if showHelp {
            let maxScroll = max(0, viewport.helpLines - viewport.helpRows)
            helpScroll = max(0, min(maxScroll, helpScroll + delta))
        } else if showColumns {
            columnCursor = max(0, min(SortKey.allCases.count - 1, columnCursor + delta))
        } else if showTriage {
            moveTriage(to: triageSelected.addingReportingOverflow(delta).partialValue)
        } else if mode == .detail {
            let maxScroll = max(0, viewport.detailLines - viewport.detailRows)
            let next = max(0, min(maxScroll, min(detailScroll, maxScroll) + delta))
            detailScroll = next >= maxScroll && delta > 0 ? Int.max : next
        } else if focus == .engines {
            let count = snapshot?.engineCount ?? 0
            engineSelected = max(0, min(count - 1, engineSelected + delta))
            keepEngineVisible()
        } else {
            moveSelection(to: selected.addingReportingOverflow(delta).partialValue, snapshot: snapshot)
        }
    }

    private mutating func move(to index: Int, snapshot: Snapshot?) {
        if showHelp {
            helpScroll = index == 0 ? 0 : max(0, viewport.helpLines - viewport.helpRows)
        } else if showTriage {
            moveTriage(to: index)
        } else if mode == .detail {
            detailScroll = index == 0 ? 0 : Int.max
        } else if focus == .engines {
            engineSelected = index == 0 ? 0 : max(0, (snapshot?.engineCount ?? 0) - 1)
            keepEngineVisible()
        } else {
            moveSelection(to: index, snapshot: snapshot)
        }
    }

    /// Moves the table selection (leaving follow mode) and scrolls so it stays visible.
    private mutating func moveSelection(to index: Int, snapshot: Snapshot?) {
        let window = snapshot?.table ?? .empty
        if follow {
            follow = false
            offset = window.offset
        }
        let matching = window.matching
        selected = max(0, min(max(0, matching - 1), index))
        keepSelectionVisible(matching: matching)
        let i = selected - window.offset
        selectedTask = window.rows.indices.contains(i) ? window.rows[i].id : nil
    }

    private mutating func keepSelectionVisible(matching: Int) {
        let rows = max(1, viewport.tableRows)
        if selected < offset { offset = selected }
        if selected >= offset + rows { offset = selected - rows + 1 }
        offset = max(0, min(offset, max(0, matching - rows)))
    }

    private mutating func keepEngineVisible() {
        let rows = max(1, viewport.engineRows)
        if engineSelected < engineOffset { engineOffset = engineSelected }
        if engineSelected >= engineOffset + rows { engineOffset = engineSelected - rows + 1 }
        engineOffset = max(0, engineOffset)
    }

    private mutating func resetTable() {
        selected = 0
        offset = 0
        selectedTask = nil
    }

    private mutating func setFilter(_ text: String) {
        guard text != filter else { return }
        filter = text
        resetTable()
    }

    private mutating func closeDetail() {
        mode = .main
        detailTask = nil
        detail = nil
        detailScroll = 0
    }

    // MARK: Selection

    /// The selected row of the table, when it is in the snapshot's window.
    public func selectedRow(in snapshot: Snapshot?) -> TaskRow? {
        guard let window = snapshot?.table else { return nil }
        if let id = selectedTask, let row = window.rows.first(where: { $0.id == id }) { return row }
        let i = selected - window.offset
        return window.rows.indices.contains(i) ? window.rows[i] : nil
    }

    /// The task a/A/r/R act on: the detail view's task, else the table's selected row.
    private mutating func actionTarget(_ snapshot: Snapshot?) -> (TaskID, BatchID, TaskStatus)? {
        if mode == .detail, let id = detailTask {
            if let d = detail { return (d.id, d.batch, d.status) }
            if let row = snapshot?.table.rows.first(where: { $0.id == id }) { return (row.id, row.batch, row.status) }
            message = StatusMessage("task \(id) is still loading", isError: true)
            return nil
        }
        guard let row = selectedRow(in: snapshot) else {
            message = StatusMessage("no task selected", isError: true)
            return nil
        }
        return (row.id, row.batch, row.status)
    }

    /// Brings the selection and scroll positions in line with a new snapshot (rows may have moved or gone).
    public mutating func reconcile(with snapshot: Snapshot) {
        let engines = snapshot.engineCount
        engineSelected = max(0, min(engineSelected, engines - 1))
        keepEngineVisible()
        engineOffset = min(engineOffset, max(0, engines - max(1, viewport.engineRows)))

        let window = snapshot.table
        if follow {
            offset = window.offset
            selected = window.offset + max(0, window.rows.count - 1)
            selectedTask = window.rows.last?.id
            return
        }
        if let id = selectedTask, let i = window.rows.firstIndex(where: { $0.id == id }) {
            selected = window.offset + i  // the task moved within the window: stay on it
        }
        selected = max(0, min(selected, max(0, window.matching - 1)))
        keepSelectionVisible(matching: window.matching)
        let i = selected - window.offset
        if window.rows.indices.contains(i) { selectedTask = window.rows[i].id }
    }
}
