// The one table of key bindings: the handler looks keys up here and the help screen is generated from it.
import PPTerm

/// Where a binding applies. Lookups try the most specific scope of the current mode first.
public enum KeyScope: String, Sendable, Hashable, CaseIterable {
    /// The main view and the detail and help overlays.
    case global
    /// An attached view (`ppdash attach`): looked up before `global`, so `q` detaches there.
    case attached
    /// The main view, whichever pane has the focus.
    case main
    /// Moving in whatever is shown: the focused pane, the detail view or the help.
    case moving
    case table
    case engines
    case detail
    case help
    /// The failure triage view (`!`).
    case triage
    /// The column chooser (`C`).
    case columns
    /// The submit (`s`) and filter (`/`) prompts.
    case prompt
    /// The "quit while tasks run?" question.
    case confirm

    /// The help screen's heading for this scope.
    public var title: String {
        switch self {
        case .global: "Anywhere"
        case .attached: "Attached view (ppdash attach)"
        case .main: "Main view"
        case .moving: "Moving"
        case .table: "Task table"
        case .engines: "Engines pane"
        case .detail: "Task detail"
        case .help: "Help"
        case .triage: "Failure triage (!)"
        case .columns: "Column chooser (C): saved to the config file"
        case .prompt: "Prompts (s submit, / filter)"
        case .confirm: "Quit question"
        }
    }
}

/// What a key does.
public enum Action: Sendable, Hashable {
    case toggleHelp, quit, escape
    /// Attached views: leave the view, the batch runs on; stop the batch (asks first).
    case detach, stopBatch
    case togglePause, toggleFreeze, addEngine, removeEngine, openSubmit
    case nextPane, previousPane
    case moveUp, moveDown, pageUp, pageDown, top, bottom
    case openDetail, sortNext, sortPrevious, flipOrder, openFilter, toggleFollow
    case abortTask, abortBatch, retryTask, retryBatch
    case filterByEngine
    /// Show or hide the task stream; colour it by outcome or by batch; mouse on or off; copy (OSC 52).
    case toggleStream, streamColouring, toggleMouse, copy
    /// Failure triage: open it, list a group's tasks (the table filtered), retry a group.
    case openTriage, triageList, triageRetry
    /// Engines pane: exclude the selected engine from new work, or include it again.
    case toggleExclude
    /// Column chooser: open it, show or hide a column, move it, save, back to the defaults.
    case openColumns, columnToggle, columnLeft, columnRight, columnSave, columnReset
    /// Prompt editing: typed characters are inserted, these are the rest.
    case insertText
    case edit(EditAction)
    case accept, cancel
    case confirmYes, confirmNo
}

extension Action {
    /// It changes the work (submit, pause, engines, abort, retry, stop): nothing a read-only view can do.
    public var changesWork: Bool {
        switch self {
        case .openSubmit, .togglePause, .addEngine, .removeEngine, .abortTask, .abortBatch, .retryTask, .retryBatch,
            .stopBatch, .triageRetry, .toggleExclude:
            true
        default: false
        }
    }
}

/// One row of the key map: the keys, where they apply, what they do and the help text.
public struct Binding: Sendable, Hashable {
    public var keys: [Key]
    public var scope: KeyScope
    public var action: Action
    public var help: String
    /// Shown instead of the key names when the binding has no fixed key (typing text).
    public var keyLabel: String?

    public init(_ keys: [Key], _ scope: KeyScope, _ action: Action, _ help: String, keyLabel: String? = nil) {
        self.keys = keys
        self.scope = scope
        self.action = action
        self.help = help
        self.keyLabel = keyLabel
    }

    /// The keys as the help screen spells them: `j Down`.
    public var keysText: String { keyLabel ?? keys.map(KeyMap.name).joined(separator: " ") }
}

/// The dashboard's key bindings.
public enum KeyMap {
    public static let bindings: [Binding] = [
        Binding([.char("?"), .function(1)], .global, .toggleHelp, "show or hide this help"),
        Binding([.char("q"), .ctrl("c")], .global, .quit, "quit (asks first while tasks are pending or running)"),
        Binding([.escape], .global, .escape, "close the help or detail view; clear the filter or message"),
        Binding([.char("s")], .global, .openSubmit, "submit a batch: TEMPLATE ::: ARGS (e.g. echo {} ::: 1..9)"),
        Binding([.char("p")], .global, .togglePause, "pause or resume dispatch of pending tasks"),
        Binding([.char("z")], .global, .toggleFreeze, "freeze or unfreeze the display (the batch goes on)"),
        Binding([.char("+")], .global, .addEngine, "add an engine"),
        Binding([.char("-")], .global, .removeEngine, "remove the selected engine (else the last idle one)"),
        Binding([.char("t")], .global, .toggleStream, "show or hide the task stream (a lane per engine, 1 s a cell)"),
        Binding([.char("T")], .global, .streamColouring, "colour the task stream by outcome or by batch"),
        Binding([.char("m")], .global, .toggleMouse, "mouse on or off (off: the terminal's own selection works)"),
        Binding([.char("y")], .global, .copy, "copy the task's command (detail view: its output file) to the clipboard"),
        Binding([.char("!")], .main, .openTriage, "failure triage: failed tasks grouped by how they failed"),
        Binding([.char("C")], .main, .openColumns, "choose the task table's columns (saved to the config file)"),

        Binding([.char("q"), .char("d"), .ctrl("c")], .attached, .detach, "detach: close this view, the batch runs on"),
        Binding([.char("Q")], .attached, .stopBatch, "stop the batch (asks first): abort pending, signal running"),

        Binding([.tab], .main, .nextPane, "focus the next pane (engines, tasks)"),
        Binding([.backTab], .main, .previousPane, "focus the previous pane"),

        Binding([.char("k"), .up], .moving, .moveUp, "up one line"),
        Binding([.char("j"), .down], .moving, .moveDown, "down one line"),
        Binding([.pageUp, .ctrl("b")], .moving, .pageUp, "up one page"),
        Binding([.pageDown, .ctrl("f"), .char(" ")], .moving, .pageDown, "down one page"),
        Binding([.char("g"), .home], .moving, .top, "to the top"),
        Binding([.char("G"), .end], .moving, .bottom, "to the bottom"),

        Binding([.enter], .table, .openDetail, "show the selected task: metadata, stdout, stderr, error"),
        Binding([.char(">"), .char(".")], .table, .sortNext, "sort by the next column"),
        Binding([.char("<"), .char(",")], .table, .sortPrevious, "sort by the previous column"),
        Binding([.char("o")], .table, .flipOrder, "flip the sort order"),
        Binding([.char("/")], .table, .openFilter, "filter tasks (status, e3 engine, b2 batch, task, text: see below), live"),
        Binding([.char("f")], .table, .toggleFollow, "follow: keep the newest running tasks in view"),
        Binding([.char("a")], .table, .abortTask, "abort the selected task"),
        Binding([.char("A")], .table, .abortBatch, "abort the selected task's batch"),
        Binding([.char("r")], .table, .retryTask, "retry the selected task (when it failed)"),
        Binding([.char("R")], .table, .retryBatch, "retry every failed task of the selected task's batch"),

        Binding([.enter], .engines, .filterByEngine, "show only the selected engine's tasks"),
        Binding([.char("/")], .engines, .openFilter, "filter tasks"),
        Binding([.char("x")], .engines, .toggleExclude, "exclude the selected engine from new work, or include it again"),

        Binding([.char("a")], .detail, .abortTask, "abort this task"),
        Binding([.char("r")], .detail, .retryTask, "retry this task (when it failed)"),
        Binding([.enter], .detail, .escape, "back to the table"),
        Binding([.char("G"), .end], .detail, .bottom, "follow the output as it grows (tail -f); scrolling up stops it"),

        Binding([.enter], .triage, .triageList, "list the selected group's tasks (the table, filtered)"),
        Binding([.char("R")], .triage, .triageRetry, "retry the group's tasks (on other engines first)"),
        Binding([.char("!"), .char("q")], .triage, .escape, "close the triage"),

        Binding([.char(" "), .enter], .columns, .columnToggle, "show or hide the column under the cursor"),
        Binding([.char("k"), .up], .columns, .moveUp, "cursor up"),
        Binding([.char("j"), .down], .columns, .moveDown, "cursor down"),
        Binding([.char("K"), .char("<")], .columns, .columnLeft, "move the column left (earlier)"),
        Binding([.char("J"), .char(">")], .columns, .columnRight, "move the column right (later)"),
        Binding([.char("w"), .char("S")], .columns, .columnSave, "save the columns to the config file"),
        Binding([.char("D")], .columns, .columnReset, "back to the default columns"),
        Binding([.char("C"), .char("q")], .columns, .escape, "close the chooser (unsaved changes stay until quit)"),

        Binding([.enter], .help, .escape, "close the help"),

        Binding([], .prompt, .insertText, "type text (pastes work)", keyLabel: "text"),
        Binding([.enter], .prompt, .accept, "submit the batch / keep the filter"),
        Binding([.escape, .ctrl("c"), .ctrl("g")], .prompt, .cancel, "cancel (the filter prompt clears the filter)"),
        Binding([.left, .ctrl("b")], .prompt, .edit(.left), "cursor left"),
        Binding([.right, .ctrl("f")], .prompt, .edit(.right), "cursor right"),
        Binding([.home, .ctrl("a")], .prompt, .edit(.home), "to the start of the line"),
        Binding([.end, .ctrl("e")], .prompt, .edit(.end), "to the end of the line"),
        Binding([.backspace, .ctrl("h")], .prompt, .edit(.deleteBackward), "delete the character before the cursor"),
        Binding([.delete, .ctrl("d")], .prompt, .edit(.deleteForward), "delete the character under the cursor"),
        Binding([.ctrl("u")], .prompt, .edit(.killToStart), "delete to the start of the line"),
        Binding([.ctrl("k")], .prompt, .edit(.killToEnd), "delete to the end of the line"),
        Binding([.ctrl("w")], .prompt, .edit(.deleteWord), "delete the word before the cursor"),
        Binding([.up, .ctrl("p")], .prompt, .edit(.historyPrevious), "previous line from the history"),
        Binding([.down, .ctrl("n")], .prompt, .edit(.historyNext), "next line from the history"),

        Binding(
            [.char("y"), .char("Y"), .ctrl("c")], .confirm, .confirmYes, "yes, quit (Ctrl-C a second time also quits)"),
        Binding([.char("n"), .char("N"), .escape], .confirm, .confirmNo, "no, stay (so does any other key)"),
    ]

    /// The first binding of `key` in the first of `scopes` that has one.
    public static func binding(for key: Key, in scopes: [KeyScope]) -> Binding? {
        for scope in scopes {
            if let b = bindings.first(where: { $0.scope == scope && $0.keys.contains(key) }) { return b }
        }
        return nil
    }

    /// A key as the help screen and hints spell it.
    public static func name(_ key: Key) -> String {
        switch key {
        case .char(" "): "Space"
        case .char(let c): String(c)
        case .ctrl(let c): "Ctrl-" + String(c).uppercased()
        case .up: "Up"
        case .down: "Down"
        case .left: "Left"
        case .right: "Right"
        case .pageUp: "PgUp"
        case .pageDown: "PgDn"
        case .home: "Home"
        case .end: "End"
        case .enter: "Enter"
        case .escape: "Esc"
        case .backspace: "Backspace"
        case .delete: "Del"
        case .tab: "Tab"
        case .backTab: "Shift-Tab"
        case .function(let n): "F\(n)"
        case .resize: "resize"
        case .mouse: "mouse"
        }
    }

    /// The help screen's lines: a heading per scope, then `keys  description` rows.
    public static func helpLines(readOnly: Bool = false) -> [(keys: String, text: String, heading: Bool)] {
        var out: [(String, String, Bool)] = []
        for scope in KeyScope.allCases {
            let rows = bindings.filter { $0.scope == scope && !(readOnly && $0.action.changesWork) }
            guard !rows.isEmpty else { continue }
            if !out.isEmpty { out.append(("", "", false)) }
            out.append((scope.title, "", true))
            for b in rows { out.append((b.keysText, b.help, false)) }
        }
        return out
    }
}
