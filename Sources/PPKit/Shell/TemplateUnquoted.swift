// GNU parallel's --tagstring: a template rendered with its replacement strings as they are, unquoted.

extension Template {
    /// Expands for display (`--tagstring`): as `render`, but each argument is inserted as it is, not shell-quoted;
    /// `{}` with several arguments joins them with spaces; a nil `slot` leaves `{%}` as written.
    public func renderUnquoted(args: [String], seq: Int, slot: Int?) -> String {
        var out = ""
        for part in parts {
            switch part {
            case .literal(let s): out += s
            case .all(let t): out += args.map { t.apply($0) }.joined(separator: " ")
            case .arg(let n, let t): if n >= 1 && n <= args.count { out += t.apply(args[n - 1]) }
            case .seq: out += String(seq)
            case .slot: out += slot.map(String.init) ?? "{%}"
            }
        }
        return out
    }
}
