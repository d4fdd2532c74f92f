// Mouse and clipboard: where a click lands (a pure function of the layout), and what `y` hands the terminal.
import PPKit
import PPSource
import PPSystem
import PPTerm

/// What a mouse event points at, found from the frame's layout.
public enum MouseTarget: Sendable, Hashable {
    case none
    /// A task row: its index in the sorted, filtered table.
    case tableRow(Int)
    /// A column heading of the task table: sort by it (again: flip the order).
    case tableHeader(SortKey)
    /// An engine row: its index in the engines list.
    case engineRow(Int)
    /// Elsewhere in a pane: focus it.
    case pane(UIState.Pane)
    /// The wheel: move by this many rows, in the pane under the pointer (nil: whatever is shown, e.g. an overlay).
    case wheel(Int, UIState.Pane?)
}

/// Rows one wheel notch moves.
let wheelRows = 3

/// Where `event` lands on the frame `render` draws for this snapshot, state and size.
public func mouseTarget(
    _ event: MouseEvent, snapshot: Snapshot, ui: UIState, size: Size, capabilities: TermCapabilities
) -> MouseTarget {
    let lay = layout(for: snapshot, size: size, ui: ui)
    guard !lay.tooSmall else { return .none }
    func inside(_ r: Rect) -> Bool {
        event.row >= r.row && event.row < r.bottom && event.col >= r.col && event.col < r.right
    }
    let overlay = ui.showHelp || ui.mode == .detail
    let pane: UIState.Pane? =
        overlay ? nil : inside(lay.table) ? .table : inside(lay.engines) ? .engines : nil
    switch event.kind {
    case .wheelUp: return .wheel(-wheelRows, pane)
    case .wheelDown: return .wheel(wheelRows, pane)
    case .release, .press(2), .press(3): return .none
    case .press: break
    }
    guard !overlay else { return .none }
    if inside(lay.table) {
        let headings = lay.table.row + 1
        if event.row == headings {
            let cols = TaskTable.columns(
                width: lay.table.width - 1, x: lay.table.col + 1, sort: ui.sort, ascending: ui.ascending,
                rows: snapshot.table.rows, glyphs: .for(unicode: capabilities.unicode))
            // A click in a column or in the gap after it.
            if let hit = cols.first(where: { event.col >= $0.x && event.col <= $0.x + $0.width }) {
                return .tableHeader(hit.column.id)
            }
            return .pane(.table)
        }
        let first = headings + 1
        let n = event.row - first
        if n >= 0, n < min(lay.tableRows, snapshot.table.rows.count) {
            return .tableRow(snapshot.table.offset + n)
        }
        return .pane(.table)
    }
    if inside(lay.engines) {
        let first = lay.engines.row + 2
        let n = event.row - first
        let engines = snapshot.engineCount
        let offset = min(ui.engineOffset, max(0, engines - lay.engineRows))
        if n >= 0, n < lay.engineRows, offset + n < engines { return .engineRow(offset + n) }
        return .pane(.engines)
    }
    return .none
}

/// The most bytes `y` puts on the clipboard: terminals and tmux cap what one OSC 52 may carry.
public let clipboardLimit = 65_536

extension DashboardController {
    /// A click or wheel turn: selects, sorts, focuses or scrolls.
    func handleMouse(_ event: MouseEvent) {
        let target = mouseTarget(event, snapshot: snapshot, ui: state, size: size, capabilities: capabilities)
        guard target != .none else { return }
        let before = state.query
        let snap = snapshot
        update { $0.apply(target, snapshot: snap) }
        if state.query != before { poll(force: true) }
    }

    /// Hands `text` (raw bytes, as the task had them) to the app loop for OSC 52 and says so.
    func copy(_ text: String, what: String) {
        let bytes = ByteText.bytes(of: text)
        guard bytes.count <= clipboardLimit else {
            say(
                "not copied: \(what) is \(Format.bytes(bytes.count)), more than a terminal takes at once (\(Format.bytes(clipboardLimit)))",
                error: true)
            return
        }
        pendingClipboard = bytes
        say("copied \(what) to the clipboard: \(bytes.count) byte\(bytes.count == 1 ? "" : "s") (OSC 52)")
    }
}
