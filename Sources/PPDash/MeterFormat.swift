// Formats for the resource meters: CPU seconds, CPU percent, memory in a few columns, load.
import PPKit

extension Format {
    /// CPU seconds as `/usr/bin/time` gives them: `0.00 s`, `1.25 s`, `1234.50 s`.
    public static func seconds(_ s: Double) -> String {
        guard s.isFinite else { return "- s" }
        let c = Int((max(0, s) * 100).rounded())
        return "\(c / 100).\(pad2(c % 100)) s"
    }

    /// CPU use in percent of one core: `0%`, `98%`, `350%` (several cores), `-` when unknown.
    public static func percent(_ p: Double?) -> String {
        guard let p, p.isFinite else { return "-" }
        return "\(Int(max(0, min(p, 1e6)).rounded()))%"
    }

    /// Memory in at most 5 columns: `512K`, `12M`, `1.5G`, `-` when unknown.
    public static func memory(_ bytes: Int64?) -> String {
        guard let b = bytes, b >= 0 else { return "-" }
        let k = Double(b) / 1024
        if k < 1000 { return "\(Int(k.rounded()))K" }
        let m = k / 1024
        if m < 1000 { return "\(Int(m.rounded()))M" }
        let g = m / 1024
        if g < 100 { return "\(oneDecimal(g))G" }
        return "\(Int(g.rounded()))G"
    }

    /// A load average: `0.00`, `3.52`, `120`.
    public static func load(_ l: Double) -> String {
        guard l.isFinite else { return "-" }
        if l >= 100 { return String(Int(l.rounded())) }
        let c = Int((max(0, l) * 100).rounded())
        return "\(c / 100).\(pad2(c % 100))"
    }
}
