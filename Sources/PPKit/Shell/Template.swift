import Algorithms

/// A command-line or prompt-line error in a template or its arguments.
public struct SweepError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A command template in GNU parallel syntax.
public struct Template: Sendable, Hashable {
    public let text: String
    /// The text split into literals and replacement strings, once.
    let parts: [TemplatePart]
    let replaces: Bool

    public init(_ text: String) throws(SweepError) {
        guard text.utf8.contains(where: { !isBlank($0) }) else { throw SweepError("empty command template") }
        if let perl = Template.perlExpression(text) {
            throw SweepError("\(perl): perl expressions {= ... =} are not supported (use {} {1} {.} {/} {//} {/.} {#} {%} and shell)")
        }
        self.text = text
        parts = TemplatePart.compile(Array(text.utf8))
        replaces = parts.contains { if case .literal = $0 { false } else { true } }
    }

    /// Words joined with single spaces, as GNU parallel joins its command words.
    public init(words: [String]) throws(SweepError) {
        try self.init(words.joined(separator: " "))
    }

    /// The first `{= ... =}` in `text` (GNU parallel's perl expression, which ppdash cannot run), if any.
    static func perlExpression(_ text: String) -> String? {
        let u = Array(text.utf8)
        var i = 0
        while i + 1 < u.count {
            if u[i] == UInt8(ascii: "{") && u[i + 1] == UInt8(ascii: "=") {
                var j = i + 2
                while j + 1 < u.count {
                    if u[j] == UInt8(ascii: "=") && u[j + 1] == UInt8(ascii: "}") {
                        let shown = String(decoding: u[i...(j + 1)], as: UTF8.self)
                        return shown.count > 40 ? String(shown.prefix(37)) + "..." : shown
                    }
                    j += 1
                }
                return nil
            }
            i += 1
        }
        return nil
    }

    /// True if the text has a replacement string: `{}` `{1}` `{#}` `{%}` `{.}` `{/}` `{//}` `{/.}` `{N.}` ...
    public var hasReplacement: Bool { replaces }

    public static func == (a: Template, b: Template) -> Bool { a.text == b.text }
    public func hash(into hasher: inout Hasher) { hasher.combine(text) }

    /// Expands for one task: `args` has one value per `:::` group; `seq` and `slot` are 1-based.
    public func expand(args: [String], seq: Int, slot: Int) -> String {
        render(args: args, seq: seq, slot: slot)
    }

    /// Expands; a nil `slot` leaves `{%}` as written. `quote` quotes each argument (GNU parallel's quoting).
    func render(args: [String], seq: Int, slot: Int?, quote: (String) -> String = Template.quote) -> String {
        guard replaces else {
            var out = text
            for a in args {
                out += " "
                out += quote(a)
            }
            return out
        }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8 * args.count + 8)
        for part in parts {
            switch part {
            case .literal(let s):
                out += s
            case .all(let t):
                for (k, a) in args.enumerated() {
                    if k > 0 { out += " " }
                    out += quote(t.apply(a))
                }
            case .arg(let n, let t):
                if n <= args.count { out += quote(t.apply(args[n - 1])) }
            case .seq:
                out += String(seq)
            case .slot:
                if let slot { out += String(slot) } else { out += "{%}" }
            }
        }
        return out
    }

    /// Quotes as GNU parallel 20221122 does (`shell_quote_scalar_default`): a value made only of
    /// `-_.+a-zA-Z0-9/` is left as it is, the empty value is `''`, any other is put in single quotes with each `'`
    /// written `'"'"'`, and the `''` this leaves at either end dropped (`'` alone is `"'"`). Every other byte (a
    /// space, `~`, `,`, `:`, `@`, `%`, a newline, a byte that is not UTF-8, any non-ASCII character) is quoted.
    public static func quote(_ s: String) -> String {
        let utf8 = s.utf8
        if utf8.isEmpty { return "''" }
        guard utf8.contains(where: { !isQuoteSafe($0) }) else { return s }
        var quotes = 0
        for b in utf8 where b == 39 { quotes += 1 }
        return String(unsafeUninitializedCapacity: utf8.count + 2 + 4 * quotes) { buf in
            var i = 0
            func put(_ b: UInt8) {
                buf[i] = b
                i += 1
            }
            put(39)
            for b in utf8 {
                if b == 39 {
                    // '"'"' : close the quote, a double-quoted ', open again
                    put(39); put(34); put(39); put(34); put(39)
                } else {
                    put(b)
                }
            }
            put(39)
            // GNU's s/^''// and s/''$//: a value that starts or ends with ' leaves an empty '' there.
            var start = 0
            if i >= 2 && buf[0] == 39 && buf[1] == 39 { start = 2 }
            if i - start >= 2 && buf[i - 1] == 39 && buf[i - 2] == 39 { i -= 2 }
            if start > 0 {
                for k in start..<i { buf[k - start] = buf[k] }
                i -= start
            }
            return i
        }
    }

    /// The quoting of ppdash before it followed GNU parallel's (backslashes, newline as `'\n'`): only to recognise
    /// the commands older journals recorded (`ShellTask.matches(recorded:)`).
    static func legacyQuote(_ s: String) -> String {
        let utf8 = s.utf8
        if utf8.isEmpty { return "''" }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count + 8)
        for b in utf8 {
            if CommandPlan.isPlainByte(b) {
                out.append(b)
            } else if b == 10 {
                out += [39, 10, 39]
            } else {
                out += [92, b]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Bytes GNU parallel leaves unquoted: ASCII letters, digits and `-_.+/`.
@inline(__always) func isQuoteSafe(_ b: UInt8) -> Bool {
    switch b {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
        UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "+"), UInt8(ascii: "/"):
        true
    default:
        false
    }
}

@inline(__always) private func isBlank(_ b: UInt8) -> Bool {
    b == 32 || b == 9 || b == 10 || b == 13 || b == 11 || b == 12
}

/// How a replacement string transforms its argument.
enum PathTransform: UInt8, Sendable, Hashable {
    case none, noExtension, basename, dirname, basenameNoExtension

    func apply(_ s: String) -> String {
        switch self {
        case .none: s
        case .noExtension: PathTransform.dropExtension(s)
        case .basename: PathTransform.basename(s)
        case .dirname: PathTransform.dirname(s)
        case .basenameNoExtension: PathTransform.dropExtension(PathTransform.basename(s))
        }
    }

    /// GNU parallel's `s:\.[^/.]*$::`.
    static func dropExtension(_ s: String) -> String {
        let u = s.utf8
        guard let dot = u.lastIndex(of: UInt8(ascii: ".")) else { return s }
        if u[dot...].contains(UInt8(ascii: "/")) { return s }
        return String(s[..<dot])
    }

    /// GNU parallel's `s:^.*/::`.
    static func basename(_ s: String) -> String {
        let u = s.utf8
        guard let slash = u.lastIndex(of: UInt8(ascii: "/")) else { return s }
        return String(s[u.index(after: slash)...])
    }

    /// Perl's File::Basename::dirname, as GNU parallel uses it.
    static func dirname(_ s: String) -> String {
        var u = Substring(s).utf8
        while u.count > 1, u.last == UInt8(ascii: "/") { u = u.dropLast() }
        guard let slash = u.lastIndex(of: UInt8(ascii: "/")) else { return "." }
        var d = u[..<slash]
        while d.count > 1, d.last == UInt8(ascii: "/") { d = d.dropLast() }
        return d.isEmpty ? "/" : String(Substring(d))
    }
}

/// One piece of a compiled template.
enum TemplatePart: Sendable, Hashable {
    case literal(String)
    case all(PathTransform)
    case arg(Int, PathTransform)
    case seq
    case slot

    static func compile(_ bytes: [UInt8]) -> [TemplatePart] {
        var parts: [TemplatePart] = []
        var literalStart = 0
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "{"), let (part, end) = match(bytes, at: i) {
                if literalStart < i { parts.append(.literal(String(decoding: bytes[literalStart..<i], as: UTF8.self))) }
                parts.append(part)
                i = end
                literalStart = end
            } else {
                i += 1
            }
        }
        if literalStart < bytes.count {
            parts.append(.literal(String(decoding: bytes[literalStart...], as: UTF8.self)))
        }
        return parts
    }

    /// Matches `{#}`, `{%}` or `{[N][.|/|//|/.]}` at `i`; returns the part and the index after `}`.
    static func match(_ b: [UInt8], at i: Int) -> (TemplatePart, Int)? {
        var j = i + 1
        guard j < b.count else { return nil }
        if b[j] == UInt8(ascii: "#") || b[j] == UInt8(ascii: "%") {
            guard j + 1 < b.count, b[j + 1] == UInt8(ascii: "}") else { return nil }
            return (b[j] == UInt8(ascii: "#") ? .seq : .slot, j + 2)
        }
        var number = 0
        var digits = 0
        while j < b.count, b[j] >= UInt8(ascii: "0"), b[j] <= UInt8(ascii: "9") {
            number = number * 10 + Int(b[j] - UInt8(ascii: "0"))
            digits += 1
            if digits > 6 { return nil }
            j += 1
        }
        if digits > 0 && number == 0 { return nil }
        guard let close = b[j...].prefix(3).firstIndex(of: UInt8(ascii: "}")) else { return nil }
        let t: PathTransform
        switch b[j..<close] {
        case []: t = .none
        case [UInt8(ascii: ".")]: t = .noExtension
        case [UInt8(ascii: "/")]: t = .basename
        case [UInt8(ascii: "/"), UInt8(ascii: "/")]: t = .dirname
        case [UInt8(ascii: "/"), UInt8(ascii: ".")]: t = .basenameNoExtension
        default: return nil
        }
        return (digits > 0 ? .arg(number, t) : .all(t), close + 1)
    }
}

/// One `:::` group's values: plain values and `INT..INT` ranges, kept as given (a range is never expanded into
/// strings: its element `i` is computed), so a group of ten million costs a few bytes.
public struct ArgGroup: Sendable, Hashable, RandomAccessCollection, ExpressibleByArrayLiteral {
    public enum Item: Sendable, Hashable {
        /// Values as given, in order.
        case values([String])
        /// `from..to`, either way round (both ends included).
        case range(from: Int, to: Int)

        var count: Int {
            switch self {
            case .values(let v): v.count
            case .range(let a, let b): (a <= b ? b - a : a - b) + 1
            }
        }
    }

    public private(set) var items: [Item] = []
    /// Where each item starts, by element index.
    private var starts: [Int] = []
    public private(set) var endIndex = 0

    public init() {}
    public init(_ values: [String]) {
        if !values.isEmpty {
            items = [.values(values)]
            starts = [0]
            endIndex = values.count
        }
    }
    public init(arrayLiteral elements: String...) { self.init(elements) }

    /// Equal when they hold the same values in order, however written (`1..3` equals `1 2 3`).
    public static func == (a: ArgGroup, b: ArgGroup) -> Bool {
        guard a.endIndex == b.endIndex else { return false }
        if a.items == b.items { return true }
        return a.elementsEqual(b)
    }

    /// The count and the first value (consistent with `==`, constant work).
    public func hash(into h: inout Hasher) {
        h.combine(endIndex)
        h.combine(first)
    }

    public var startIndex: Int { 0 }

    /// The `i`-th value (0-based).
    public subscript(i: Int) -> String {
        precondition(i >= 0 && i < endIndex, "argument index out of range")
        // The last item starting at or before `i`.
        let lo = starts.partitioningIndex { $0 > i } - 1
        let k = i - starts[lo]
        switch items[lo] {
        case .values(let v): return v[k]
        case .range(let a, let b): return String(a <= b ? a + k : a - k)
        }
    }

    /// Appends one plain value.
    public mutating func append(_ value: String) {
        if case .values(var v)? = items.last {
            items[items.count - 1] = .values([])  // keeps `v` unique while it grows
            v.append(value)
            items[items.count - 1] = .values(v)
        } else {
            starts.append(endIndex)
            items.append(.values([value]))
        }
        endIndex += 1
    }

    /// Appends the range `a..b`; refused when the group's size would not fit an `Int`.
    public mutating func appendRange(_ a: Int, _ b: Int) throws(SweepError) {
        let (span, overflow) = a > b ? a.subtractingReportingOverflow(b) : b.subtractingReportingOverflow(a)
        guard !overflow, span < Int.max else { throw SweepError("range too large: \(a)..\(b)") }
        let (n, over) = endIndex.addingReportingOverflow(span + 1)
        guard !over else { throw SweepError("too many arguments in one ::: group (over \(thousands(Int.max)))") }
        starts.append(endIndex)
        items.append(.range(from: a, to: b))
        endIndex = n
    }
}

/// A template plus its argument groups, as `ppdash run -- TEMPLATE ::: A B ::: C D` and the prompt give them.
public struct Sweep: Sendable, Hashable {
    public var template: Template
    public var groups: [ArgGroup]

    public init(template: Template, groups: [ArgGroup] = []) {
        self.template = template
        self.groups = groups
    }

    /// From command-line words after `--`: template words, then zero or more `::: values...` groups; the other
    /// input forms (`:::+`, `::::`) are refused here (`InputPlan` and `InputRows` read them).
    public static func parse(words: [String]) throws(SweepError) -> Sweep {
        let plan = try InputPlan.parse(words: words)
        if plan.groups.isEmpty { return Sweep(template: try Template(plan.templateText)) }
        guard let sweep = plan.sweep else {
            throw SweepError("linked groups (:::+) and input files (::::) are not a plain sweep: read them with InputRows")
        }
        _ = try sweep.checkedCount()
        return sweep
    }

    /// From one dashboard prompt line: `TEMPLATE ::: ARGS [::: ARGS]...`, arguments split with shell-like quoting.
    public static func parse(line: String) throws(SweepError) -> Sweep {
        let bytes = Array(line.utf8)
        guard let split = try firstSeparator(bytes) else {
            throw SweepError("no arguments: write TEMPLATE ::: ARGS")
        }
        let templateText = String(decoding: bytes[..<split], as: UTF8.self)
        let template = try Template(trimmed(templateText))
        let words = try splitWords(bytes[split...])
        // The prompt takes `:::` groups only: the other separators are refused, never a template word or a value.
        for (w, quoted) in try splitWords(bytes[..<split]) + words where !quoted && w != ":::" && InputPlan.separators.contains(w) {
            throw SweepError("\(w): linked groups and input files are for ppdash run; here write TEMPLATE ::: ARGS [::: ARGS]")
        }
        var groups: [ArgGroup] = []
        var current: ArgGroup? = nil
        for (w, quoted) in words {
            if !quoted && w == ":::" {
                if let c = current {
                    guard !c.isEmpty else { throw SweepError("::: needs at least one argument") }
                    groups.append(c)
                }
                current = ArgGroup()
            } else if quoted {
                current?.append(w)
            } else if current != nil {
                try appendValue(w, to: &current!)
            }
        }
        guard let last = current, !last.isEmpty else { throw SweepError("::: needs at least one argument") }
        groups.append(last)
        let sweep = Sweep(template: template, groups: groups)
        _ = try sweep.checkedCount()
        return sweep
    }

    /// Number of tasks: the product of the group sizes; 0 without groups (saturates at Int.max).
    public var count: Int {
        if groups.isEmpty { return 0 }
        var n = 1
        for g in groups {
            let (p, overflow) = n.multipliedReportingOverflow(by: g.count)
            if overflow { return Int.max }
            n = p
        }
        return n
    }

    /// The number of tasks; refused only when it cannot be numbered (a product past `Int.max`). Tasks are made as
    /// they are dispatched, so a large count costs nothing up front.
    public func checkedCount() throws(SweepError) -> Int {
        let n = count
        guard n < Int.max else {
            throw SweepError("the arguments make over \(thousands(Int.max)) tasks: too many to number")
        }
        return n
    }

    /// The `index`-th tuple (0-based) of the cartesian product, first group varying slowest.
    public func arguments(at index: Int) -> [String] {
        precondition(index >= 0 && index < count, "sweep index out of range")
        var rest = index
        var out = [String](repeating: "", count: groups.count)
        for g in groups.indices.reversed() {
            let n = groups[g].count
            out[g] = groups[g][rest % n]
            rest /= n
        }
        return out
    }

    /// Appends `w`: kept as a range if it is `INT..INT`.
    static func appendValue(_ w: String, to values: inout ArgGroup) throws(SweepError) {
        guard let (a, b) = range(w) else {
            values.append(w)
            return
        }
        do { try values.appendRange(a, b) } catch { throw SweepError("range too large: \(w)") }
    }

    /// `-?[0-9]+..-?[0-9]+` as its two bounds.
    static func range(_ w: String) -> (Int, Int)? {
        let u = Array(w.utf8)
        guard u.count >= 4, let dot = u.firstIndex(of: UInt8(ascii: ".")), dot + 1 < u.count,
            u[dot + 1] == UInt8(ascii: ".")
        else { return nil }
        guard let a = integer(u[..<dot]), let b = integer(u[(dot + 2)...]) else { return nil }
        return (a, b)
    }

    static func integer(_ s: ArraySlice<UInt8>) -> Int? {
        var d = s
        if d.first == UInt8(ascii: "-") { d = d.dropFirst() }
        guard !d.isEmpty, d.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int(String(decoding: s, as: UTF8.self))
    }

    static func trimmed(_ s: String) -> String {
        let u = s.utf8
        guard let a = u.firstIndex(where: { !isBlank($0) }), let b = u.lastIndex(where: { !isBlank($0) }) else {
            return ""
        }
        return String(s[a...b])
    }

    /// Index of the first unquoted whitespace-delimited `:::` token, or nil; throws on a quote left open before it.
    static func firstSeparator(_ b: [UInt8]) throws(SweepError) -> Int? {
        var i = 0
        var atWordStart = true
        while i < b.count {
            let c = b[i]
            if isBlank(c) {
                atWordStart = true
                i += 1
                continue
            }
            if atWordStart, c == UInt8(ascii: ":"), i + 2 < b.count, b[i + 1] == c, b[i + 2] == c,
                i + 3 == b.count || isBlank(b[i + 3])
            {
                return i
            }
            atWordStart = false
            switch c {
            case UInt8(ascii: "'"):
                guard let close = b[(i + 1)...].firstIndex(of: c) else { throw SweepError("unbalanced quotes") }
                i = close + 1
            case UInt8(ascii: "\""):
                var j = i + 1
                while j < b.count && b[j] != c { j += b[j] == UInt8(ascii: "\\") ? 2 : 1 }
                guard j < b.count else { throw SweepError("unbalanced quotes") }
                i = j + 1
            case UInt8(ascii: "\\"):
                i += 2
            default:
                i += 1
            }
        }
        return nil
    }

    /// Splits into words with sh quoting ('..', "..", backslash); each word says whether any quoting was used.
    static func splitWords(_ b: ArraySlice<UInt8>) throws(SweepError) -> [(String, Bool)] {
        var words: [(String, Bool)] = []
        var cur: [UInt8] = []
        var inWord = false
        var quoted = false
        var i = b.startIndex
        while i < b.endIndex {
            let c = b[i]
            if isBlank(c) {
                if inWord { words.append((String(decoding: cur, as: UTF8.self), quoted)) }
                cur.removeAll(keepingCapacity: true)
                inWord = false
                quoted = false
                i += 1
                continue
            }
            inWord = true
            switch c {
            case UInt8(ascii: "'"):
                quoted = true
                guard let close = b[(i + 1)...].firstIndex(of: c) else { throw SweepError("unbalanced quotes") }
                cur.append(contentsOf: b[(i + 1)..<close])
                i = close + 1
            case UInt8(ascii: "\""):
                quoted = true
                var j = i + 1
                while true {
                    guard j < b.endIndex else { throw SweepError("unbalanced quotes") }
                    let d = b[j]
                    if d == c { break }
                    if d == UInt8(ascii: "\\"), j + 1 < b.endIndex,
                        [UInt8(ascii: "$"), UInt8(ascii: "`"), UInt8(ascii: "\""), UInt8(ascii: "\\"), 10].contains(
                            b[j + 1])
                    {
                        if b[j + 1] != 10 { cur.append(b[j + 1]) }
                        j += 2
                    } else {
                        cur.append(d)
                        j += 1
                    }
                }
                i = j + 1
            case UInt8(ascii: "\\"):
                quoted = true
                guard i + 1 < b.endIndex else { throw SweepError("unbalanced quotes: trailing backslash") }
                if b[i + 1] != 10 { cur.append(b[i + 1]) }
                i += 2
            default:
                cur.append(c)
                i += 1
            }
        }
        if inWord { words.append((String(decoding: cur, as: UTF8.self), quoted)) }
        return words
    }
}

/// `10000000` as `10,000,000`, for messages.
public func thousands(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (k, c) in digits.enumerated() {
        if k > 0 && (digits.count - k) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return n < 0 ? "-" + out : out
}

/// One shell task: a template applied to its arguments.
public struct ShellTask: Sendable, Hashable {
    public var template: Template
    public var args: [String]
    public var seq: Int

    public init(template: Template, args: [String], seq: Int) {
        self.template = template
        self.args = args
        self.seq = seq
    }

    /// The command to run on engine slot `slot` (1-based).
    public func command(slot: Int) -> String { template.render(args: args, seq: seq, slot: slot) }

    /// For display before it runs: expanded with `{%}` left as is.
    public var displayCommand: String { template.render(args: args, seq: seq, slot: nil) }

    /// True when `command` (as a journal recorded it) is this task's display command: today's quoting, or the
    /// backslash quoting of ppdash's journals before it quoted as GNU parallel does (they resume unchanged).
    public func matches(recorded command: String) -> Bool {
        displayCommand == command || template.render(args: args, seq: seq, slot: nil, quote: Template.legacyQuote) == command
    }
}
