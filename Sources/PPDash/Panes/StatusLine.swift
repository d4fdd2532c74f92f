// The bottom line: the open prompt, the quit question, a message, or key hints for the current view.
import PPKit
import PPSource
import PPTerm

enum StatusLine {
    /// The hints shown when nothing else is, per view: an action and its short label (keys come from the key map).
    static func hints(for ui: UIState) -> [(Action, KeyScope, String)] {
        // A read-only view offers no key that would do nothing there.
        ui.readOnly ? allHints(for: ui).filter { !$0.0.changesWork } : allHints(for: ui)
    }

    private static func allHints(for ui: UIState) -> [(Action, KeyScope, String)] {
        if ui.attached && !ui.showHelp && ui.mode == .main {
            return [
                (.detach, .attached, "detach"), (.stopBatch, .attached, "stop batch"), (.openDetail, .table, "detail"),
                (.openSubmit, .global, "submit"), (.openFilter, .table, "filter"), (.abortTask, .table, "abort"),
                (.retryTask, .table, "retry"), (.togglePause, .global, "pause"), (.nextPane, .main, "pane"),
                (.toggleHelp, .global, "help"),
            ]
        }
        if ui.showHelp { return [(.moveDown, .moving, "scroll"), (.escape, .global, "close")] }
        if ui.mode == .detail {
            return [
                (.moveDown, .moving, "scroll"), (.bottom, .moving, "end/tail"), (.abortTask, .detail, "abort"),
                (.retryTask, .detail, "retry"), (.escape, .global, "back"), (.toggleHelp, .global, "help"),
            ]
        }
        if ui.focus == .engines {
            return [
                (.filterByEngine, .engines, "its tasks"), (.addEngine, .global, "add"),
                (.removeEngine, .global, "remove"),
                (.nextPane, .main, "tasks"), (.openSubmit, .global, "submit"), (.togglePause, .global, "pause"),
                (.toggleHelp, .global, "help"), (.quit, .global, "quit"),
            ]
        }
        return [
            (.openDetail, .table, "detail"), (.openSubmit, .global, "submit"), (.openFilter, .table, "filter"),
            (.sortNext, .table, "sort"), (.flipOrder, .table, "order"), (.toggleFollow, .table, "follow"),
            (.abortTask, .table, "abort"), (.retryTask, .table, "retry"), (.togglePause, .global, "pause"),
            (.toggleFreeze, .global, "freeze"), (.addEngine, .global, "engine"), (.nextPane, .main, "pane"),
            (.toggleHelp, .global, "help"),
        ]
    }

    /// The first key bound to `action` in `scope`, as the hints spell it.
    static func key(for action: Action, in scope: KeyScope) -> String {
        KeyMap.bindings.first { $0.scope == scope && $0.action == action }?.keys.first.map(KeyMap.name) ?? "?"
    }

    static func draw(into canvas: inout Canvas, rect: Rect, ui: UIState, snapshot: Snapshot, ctx: RenderContext) {
        let t = ctx.theme
        let row = rect.row
        canvas.fill(row: row, col: rect.col, width: rect.width)
        if let kind = ui.prompt {
            drawPrompt(kind, into: &canvas, rect: rect, ui: ui, ctx: ctx)
            return
        }
        if ui.confirmingStop {
            let text = " Stop the batch? Pending tasks are aborted, running ones signalled. (y/n) "
            canvas.put(text, row: row, col: rect.col, style: t.error, width: rect.width)
            return
        }
        if ui.confirmingQuit {
            let open = snapshot.totals.pending + snapshot.totals.running
            let text = " \(open) task" + (open == 1 ? " is" : "s are") + " still pending or running. Quit? (y/n) "
            canvas.put(text, row: row, col: rect.col, style: t.error, width: rect.width)
            return
        }
        if let m = ui.message {
            canvas.put(
                " " + m.text + " ", row: row, col: rect.col, style: m.isError ? t.error : t.message, width: rect.width)
            return
        }
        var x = rect.col
        for (action, scope, label) in hints(for: ui) {
            let k = key(for: action, in: scope)
            let need = displayWidth(k) + displayWidth(label) + 3
            if x + need > rect.right { break }
            x += canvas.put(k, row: row, col: x, style: t.keyHint)
            x += canvas.put(" " + label + "  ", row: row, col: x, style: t.keyHintLabel)
        }
    }

    /// The prompt line (and a hint line above it).
    static func drawPrompt(
        _ kind: UIState.PromptKind, into canvas: inout Canvas, rect: Rect, ui: UIState, ctx: RenderContext
    ) {
        let t = ctx.theme
        let label = kind == .submit ? "submit> " : "filter/ "
        let hint =
            kind == .submit
            ? " TEMPLATE ::: ARGS   {} the argument, {#} the task number, 1..9 a range   Enter submit  Esc cancel  Up history "
            : " matches status, engine (e3), batch and command, live   Enter keep  Esc clear "
        if rect.row > 0 {
            canvas.fill(row: rect.row - 1, col: rect.col, width: rect.width, style: t.keyHint)
            canvas.put(
                truncate(hint, to: rect.width, unicode: ctx.unicode), row: rect.row - 1, col: rect.col, style: t.keyHint
            )
        }
        var x = rect.col
        x += canvas.put(label, row: rect.row, col: x, style: t.prompt)
        let room = rect.right - x
        let (text, cursorColumn) = ui.editor.visible(width: room) { displayWidth(String($0)) }
        canvas.put(text, row: rect.row, col: x, style: .plain, width: room)
        let cx = x + cursorColumn
        if canvas[rect.row, cx].text.isEmpty == false || cx < rect.right {
            canvas.restyle(row: rect.row, col: cx, width: max(1, displayWidth(canvas[rect.row, cx].text))) {
                $0 = t.cursor
            }
        }
    }
}
