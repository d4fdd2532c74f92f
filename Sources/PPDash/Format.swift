// Number and time formatting for the panes: short, fixed-ish widths, the same everywhere.
import PPKit
import PPTerm

/// Formatting helpers shared by the panes; all pure and tested.
public enum Format {
    /// A duration as the table shows it: `850ms`, `2.6s`, `1m05s`, `3h02m`, `4d03h`; `-` for none.
    public static func duration(_ seconds: Double?) -> String {
        guard let s = seconds, s.isFinite else { return "-" }
        let v = max(0, s)
        let ms = (v * 1000).rounded()
        if ms < 1000 { return "\(Int(ms))ms" }
        let tenths = (v * 10).rounded()
        if tenths < 600 {
            let t = Int(tenths)
            return "\(t / 10).\(t % 10)s"
        }
        let secs = Int(v.rounded())
        if secs < 3600 { return "\(secs / 60)m\(pad2(secs % 60))s" }
        let mins = Int((v / 60).rounded())
        if mins < 100 * 60 { return "\(mins / 60)h\(pad2(mins % 60))m" }
        let hours = Int((v / 3600).rounded())
        return "\(hours / 24)d\(pad2(hours % 24))h"
    }

    /// A clock-style elapsed time for the header: `0:07`, `12:34`, `1:02:03`.
    public static func clock(_ seconds: Double) -> String {
        let s = max(0, Int(seconds.isFinite ? seconds : 0))
        if s < 3600 { return "\(s / 60):\(pad2(s % 60))" }
        return "\(s / 3600):\(pad2(s / 60 % 60)):\(pad2(s % 60))"
    }

    /// Completions per second: `0/s`, `4.2/min` below 0.1/s, `0.9/s`, `12/s`, `1.2k/s`.
    public static func rate(_ perSecond: Double) -> String {
        guard perSecond.isFinite, perSecond > 0 else { return "0/s" }
        if perSecond < 0.1 {
            let perMinute = perSecond * 60
            return perMinute < 10 ? "\(oneDecimal(perMinute))/min" : "\(Int(perMinute.rounded()))/min"
        }
        if perSecond < 9.95 { return "\(oneDecimal(perSecond))/s" }
        return "\(count(Int(perSecond.rounded())))/s"
    }

    /// Whole percent, rounded down so 100% means done: `0%`, `41%`, `100%`.
    public static func percent(_ part: Int, of total: Int) -> String {
        guard total > 0 else { return "0%" }
        let p = Int((Double(max(0, min(part, total))) * 100 / Double(total)).rounded(.down))
        return "\(p)%"
    }

    /// Estimated time left: `ETA 1m30s`, `ETA ?` when unknown.
    public static func eta(_ seconds: Double?) -> String {
        guard let s = seconds, s.isFinite, s >= 0 else { return "ETA ?" }
        return "ETA " + duration(s)
    }

    /// A count in at most 5 columns: `999`, `12345`, `123k`, `1.2M`.
    public static func count(_ n: Int) -> String {
        if n < 0 { return "-" + count(-n) }
        if n < 100_000 { return String(n) }
        if n < 10_000_000 {
            let k = Int((Double(n) / 1000).rounded())
            return k < 1000 ? "\(k)k" : "\(oneDecimal(Double(n) / 1_000_000))M"
        }
        if n < 1_000_000_000 { return "\(Int((Double(n) / 1_000_000).rounded()))M" }
        return "\(oneDecimal(Double(n) / 1_000_000_000))G"
    }

    /// Fraction 0...1 as whole percent, for utilisation: `83%`.
    public static func fraction(_ f: Double) -> String {
        guard f.isFinite else { return "-" }
        return "\(Int((max(0, min(1, f)) * 100).rounded()))%"
    }

    /// A time of day with optional milliseconds, `-` for none.
    public static func time(_ t: Timestamp?, millis: Bool = false) -> String {
        guard let t else { return "-" }
        guard millis else { return t.timeOfDay }
        let ms = Int(((t.microseconds % 1_000_000) + 1_000_000) % 1_000_000 / 1000)
        return t.timeOfDay + "." + String(repeating: "0", count: ms < 10 ? 2 : ms < 100 ? 1 : 0) + String(ms)
    }

    /// A byte count: `512 B`, `12.3 KiB`, `4.0 MiB`.
    public static func bytes(_ n: Int) -> String {
        if n < 1024 { return "\(n) B" }
        if n < 1024 * 1024 { return "\(oneDecimal(Double(n) / 1024)) KiB" }
        return "\(oneDecimal(Double(n) / 1024 / 1024)) MiB"
    }

    /// A sparkline of fractions 0...1, one cell each, padded on the left to `width` with the lowest level.
    public static func sparkline(_ values: [Double], width: Int, unicode: Bool) -> String {
        let levels = Glyphs.for(unicode: unicode).spark
        let shown = values.suffix(max(0, width))
        var out = String(repeating: levels[0], count: max(0, width - shown.count))
        for v in shown {
            let f = v.isFinite ? max(0, min(1, v)) : 0
            // Exactly 0 is the lowest level; any activity at all shows at least the second.
            let level = f <= 0 ? 0 : min(levels.count - 1, 1 + Int(f * Double(levels.count - 1)))
            out.append(levels[level])
        }
        return out
    }

    /// `s` padded with spaces on the left to `width` columns (never cut).
    public static func padLeft(_ s: String, _ width: Int) -> String {
        let w = displayWidth(s)
        return w >= width ? s : String(repeating: " ", count: width - w) + s
    }

    /// `s` padded with spaces on the right to `width` columns (never cut).
    public static func padRight(_ s: String, _ width: Int) -> String {
        let w = displayWidth(s)
        return w >= width ? s : s + String(repeating: " ", count: width - w)
    }

    static func oneDecimal(_ v: Double) -> String {
        let t = Int((v * 10).rounded())
        return "\(t / 10).\(t % 10)"
    }

    static func pad2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
}
