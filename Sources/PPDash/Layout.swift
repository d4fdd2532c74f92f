// Where each pane goes for a given terminal size: more rows give more engines, bars and task rows; wide terminals put engines and progress side by side.

/// A terminal size in cells.
public struct Size: Sendable, Hashable {
    public var rows: Int
    public var cols: Int
    public init(rows: Int, cols: Int) {
        self.rows = rows
        self.cols = cols
    }
}

/// A rectangle of the canvas.
public struct Rect: Sendable, Hashable {
    public var row: Int
    public var col: Int
    public var width: Int
    public var height: Int
    public init(row: Int, col: Int, width: Int, height: Int) {
        self.row = row
        self.col = col
        self.width = max(0, width)
        self.height = max(0, height)
    }
    public var bottom: Int { row + height }
    public var right: Int { col + width }
}

/// The panes' places for one frame.
public struct Layout: Sendable, Hashable {
    /// Below this the dashboard shows only a line asking for more room.
    public static let minimum = Size(rows: 15, cols: 60)
    /// From this width on, engines and progress sit side by side.
    public static let sideBySideColumns = 150
    /// Task rows the table always keeps.
    static let minimumTableRows = 3

    public var size: Size
    public var tooSmall: Bool
    /// Row 0.
    public var header: Rect
    /// The engines pane: title rule, column headings, `engineRows` rows.
    public var engines: Rect
    /// The progress pane: title rule, `barRows` bars.
    public var progress: Rect
    /// The task table: title rule, column headings, `tableRows` rows.
    public var table: Rect
    /// The last row: messages, key hints, prompts.
    public var status: Rect
    /// The detail and help overlays' area (between header and status line).
    public var overlay: Rect
    public var engineRows: Int
    public var barRows: Int
    public var tableRows: Int
    public var sideBySide: Bool
    /// The task stream: title rule and `streamRows` lanes, above the table; empty when not shown (or no room).
    public var stream = Rect(row: 0, col: 0, width: 0, height: 0)
    public var streamRows = 0

    /// Rows from which the task stream shows without being asked for (`t` toggles it at any size).
    public static let streamAutoRows = 40

    /// The layout for `size` with this many engines, progress bars (bars include the total bar) and task-stream lanes
    /// wanted (0: no stream).
    public init(size: Size, engines engineCount: Int, bars barCount: Int, streamLanes: Int = 0) {
        self.size = size
        tooSmall = size.rows < Self.minimum.rows || size.cols < Self.minimum.cols
        let rows = max(0, size.rows)
        let cols = max(0, size.cols)
        header = Rect(row: 0, col: 0, width: cols, height: 1)
        status = Rect(row: rows - 1, col: 0, width: cols, height: 1)
        overlay = Rect(row: 1, col: 0, width: cols, height: rows - 2)
        var avail = max(0, rows - 2)
        // The stream takes at most a quarter of the rows, and only what leaves the other panes their least.
        if streamLanes > 0 && rows >= Self.minimum.rows && cols >= Self.minimum.cols {
            let lanes = min(streamLanes, max(1, avail / 4))
            if avail - (lanes + 1) >= 5 + 2 + Self.minimumTableRows {
                streamRows = lanes
                avail -= lanes + 1
            }
        }
        let engineWant = max(1, engineCount)
        let barWant = max(1, barCount)
        sideBySide = cols >= Self.sideBySideColumns
        if sideBySide {
            // Top: engines (title + headings + rows) beside progress (title + legend + bars); the table below.
            let free = max(2, avail - 2 - Self.minimumTableRows - 2)
            let top = min(max(engineWant, barWant), max(2, free * 2 / 5))
            engineRows = min(engineWant, top)
            barRows = min(barWant, top + 1)
            let topHeight = top + 2
            let left = min(cols / 2, max(80, cols * 2 / 5))
            self.engines = Rect(row: 1, col: 0, width: left, height: topHeight)
            progress = Rect(row: 1, col: left + 1, width: cols - left - 1, height: topHeight)
            tableRows = max(0, avail - topHeight - 2)
            table = Rect(row: 1 + topHeight, col: 0, width: cols, height: tableRows + 2)
        } else {
            // Stacked: engines, progress, table; the table keeps the rest (at least a few rows).
            let fixed = 5
            let free = max(0, avail - fixed - Self.minimumTableRows)
            engineRows = min(engineWant, max(1, free * 2 / 5))
            barRows = min(barWant, max(1, (free - engineRows) / 2))
            tableRows = max(0, avail - fixed - engineRows - barRows)
            self.engines = Rect(row: 1, col: 0, width: cols, height: engineRows + 2)
            progress = Rect(row: self.engines.bottom, col: 0, width: cols, height: barRows + 1)
            table = Rect(row: progress.bottom, col: 0, width: cols, height: tableRows + 2)
        }
        if streamRows > 0 {
            stream = Rect(row: table.row, col: 0, width: cols, height: streamRows + 1)
            table.row += streamRows + 1
        }
    }

    /// Rows of text the detail and help overlays show (inside their frame).
    public var overlayTextRows: Int { max(1, overlay.height - 2) }
}
