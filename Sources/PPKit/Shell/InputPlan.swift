// GNU parallel's input forms: `:::` `:::+` `::::` `::::+` groups, `-a FILE`, `--colsep`, `-N`, `--header :`,
// `-d`/`-0`; parsed here, read (streamed) by `InputRows`.
import PPSystem

/// Where one input group's values come from.
public enum InputSource: Sendable, Hashable {
    /// `::: A B 1..9`: values given on the command line.
    case values(ArgGroup)
    /// `:::: FILE` or `-a FILE`: the file's items; `-` is stdin.
    case file(String)
}

/// One input group, and whether it is linked to the one before it (`:::+`, `::::+`).
public struct InputGroup: Sendable, Hashable {
    public var source: InputSource
    /// Linked: its values pair with the previous group's, one for one (the shorter one ends both).
    public var linked: Bool

    public init(_ source: InputSource, linked: Bool = false) {
        self.source = source
        self.linked = linked
    }
}

/// How the items are read and turned into a task's arguments.
public struct InputOptions: Sendable, Hashable {
    /// What ends an item in a file or stdin: `\n` (kept `\r` included, as GNU parallel), NUL with `-0`, `-d DELIM`.
    public var delimiter: [UInt8] = [10]
    /// `--colsep REGEX`: each value is split into columns, `{1}` `{2}` ... (a regular expression, Swift's syntax,
    /// which agrees with Perl's for the usual separators).
    public var columnSeparator: String?
    /// `--header :`: each group's first value names its columns (`{name}`), and is no task's argument.
    public var header = false
    /// `-N n`: n rows per task (`{1}`..`{n}` with one group); 0 runs one task per row with no argument.
    public var perTask: Int?

    public init() {}

    /// `-d DELIM`'s text with C escapes (`\n`, `\t`, `\0`, `\\`, `\xHH`, octal `\NNN`) as its bytes.
    public static func delimiter(_ text: String) throws(SweepError) -> [UInt8] {
        let b = ByteText.bytes(of: text)
        var out = [UInt8]()
        var i = 0
        while i < b.count {
            guard b[i] == UInt8(ascii: "\\"), i + 1 < b.count else {
                out.append(b[i])
                i += 1
                continue
            }
            let c = b[i + 1]
            i += 2
            switch c {
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "a"): out.append(7)
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "v"): out.append(11)
            case UInt8(ascii: "e"): out.append(27)
            case UInt8(ascii: "x"):
                var v = 0
                var n = 0
                while n < 2, i < b.count, let d = hexDigit(b[i]) {
                    v = v * 16 + d
                    i += 1
                    n += 1
                }
                guard n > 0 else { throw SweepError("-d \(ByteText.lossy(text)): \\x needs a hexadecimal digit") }
                out.append(UInt8(v))
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var v = Int(c - UInt8(ascii: "0"))
                var n = 1
                while n < 3, i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "7") {
                    v = v * 8 + Int(b[i] - UInt8(ascii: "0"))
                    i += 1
                    n += 1
                }
                guard v < 256 else { throw SweepError("-d \(ByteText.lossy(text)): octal escape past \\377") }
                out.append(UInt8(v))
            default: out.append(c)
            }
        }
        guard !out.isEmpty else { throw SweepError("-d needs a delimiter (e.g. -d , or -d '\\t')") }
        return out
    }

    private static func hexDigit(_ c: UInt8) -> Int? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(c - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(c - UInt8(ascii: "A")) + 10
        default: nil
        }
    }
}

/// A template and its input groups, as `ppdash run [-a FILE] -- TEMPLATE [::: A] [:::+ B] [:::: FILE] ...` gives
/// them; without groups the input is stdin.
public struct InputPlan: Sendable, Hashable {
    /// The template's words joined (`{name}` not resolved yet: `--header` names are known once read).
    public var templateText: String
    public var groups: [InputGroup]
    public var options: InputOptions

    /// The group separators: none of them ever reaches the template.
    public static let separators: Set<String> = [":::", ":::+", "::::", "::::+"]

    /// From the words after run's options: template words, then groups; `argFiles` (`-a`) come first, as in GNU
    /// parallel. Stdin (`-`) may be read by one group only.
    public static func parse(
        words: [String], argFiles: [String] = [], options: InputOptions = InputOptions()
    ) throws(SweepError) -> InputPlan {
        let first = words.firstIndex { separators.contains($0) } ?? words.endIndex
        let templateWords = Array(words[..<first])
        var groups = argFiles.map { InputGroup(.file($0)) }
        var k = first
        while k < words.endIndex {
            let sep = words[k]
            let linked = sep.hasSuffix("+") && !groups.isEmpty
            k += 1
            let end = words[k...].firstIndex { separators.contains($0) } ?? words.endIndex
            let values = words[k..<end]
            if sep.hasPrefix("::::") {
                guard !values.isEmpty else { throw SweepError("\(sep) needs a file name (- for stdin)") }
                for (i, f) in values.enumerated() {
                    groups.append(InputGroup(.file(f), linked: i == 0 ? linked : false))
                }
            } else {
                guard !values.isEmpty else { throw SweepError("\(sep) needs at least one argument") }
                var g = ArgGroup()
                for v in values {
                    for piece in Self.items(of: v, delimiter: options.delimiter) { try Sweep.appendValue(piece, to: &g) }
                }
                groups.append(InputGroup(.values(g), linked: linked))
            }
            k = end
        }
        let stdinReaders = groups.filter { $0.source == .file("-") }.count
        guard stdinReaders <= 1 else { throw SweepError("stdin (-) given as input \(stdinReaders) times: it can be read once") }
        let text = templateWords.joined(separator: " ")
        if !text.utf8.contains(where: { $0 != 32 && $0 != 9 && $0 != 10 }) {
            throw SweepError(
                "no command given: ppdash does not run each argument as a command, as GNU parallel does without one; "
                    + "give one, e.g. sh -c {} to run each argument with sh")
        }
        _ = try Template(text)  // refused now (empty, {= =}), before anything is opened
        if let n = options.perTask, n < 0 || n > 1_000_000 {
            throw SweepError("-N must be from 0 to 1000000 (got \(n))")
        }
        if let c = options.columnSeparator {
            guard !c.isEmpty else { throw SweepError("--colsep needs a separator") }
            do { _ = try Regex(c) } catch {
                throw SweepError("--colsep \(ByteText.lossy(c)): not a regular expression (\(error))")
            }
        }
        return InputPlan(templateText: text, groups: groups, options: options)
    }

    /// A `:::` value as the items GNU parallel (20221122) makes of it: it writes each value and the record delimiter
    /// to a file and reads that back, so a value holding the delimiter (a newline; `-d`'s bytes; never NUL, which
    /// no argument holds) is one item per piece, empty pieces kept: `a\nb` is `a` and `b`, `a\n` is `a` and ``.
    static func items(of value: String, delimiter: [UInt8]) -> [String] {
        guard !delimiter.isEmpty else { return [value] }
        if delimiter.count == 1, delimiter[0] < 0x80, !value.utf8.contains(delimiter[0]) { return [value] }
        let bytes = ByteText.bytes(of: value)
        var out: [String] = []
        var start = 0
        var i = 0
        while i + delimiter.count <= bytes.count {
            if bytes[i..<(i + delimiter.count)].elementsEqual(delimiter) {
                out.append(ByteText.decode(bytes[start..<i]))
                i += delimiter.count
                start = i
            } else {
                i += 1
            }
        }
        if out.isEmpty { return [value] }
        out.append(ByteText.decode(bytes[start...]))
        return out
    }

    /// The plain sweep this is, when it is one (only `:::` groups, none linked, no -N, --colsep, --header): then the
    /// tasks are made by index and the journal's header holds the groups (see `Sweep`).
    public var sweep: Sweep? {
        guard options.perTask == nil, options.columnSeparator == nil, !options.header, !groups.isEmpty else { return nil }
        var out = [ArgGroup]()
        for g in groups {
            guard case .values(let v) = g.source, !g.linked else { return nil }
            out.append(v)
        }
        guard let t = try? Template(templateText) else { return nil }
        return Sweep(template: t, groups: out)
    }

    /// The files it reads (`-` for stdin), in order.
    public var files: [String] {
        groups.compactMap { if case .file(let f) = $0.source { f } else { nil } }
    }

    /// Reads stdin: no group, or a `-` group.
    public var readsStdin: Bool { groups.isEmpty || files.contains("-") }
}

extension Template {
    /// `text` with each `{NAME}`, `{NAME.}`, `{NAME/}`, `{NAME//}`, `{NAME/.}` whose NAME is in `names` written as
    /// `{K...}` with K its 1-based position (`--header :`); other braces stay as they are.
    public static func resolvingNames(_ text: String, _ names: [String: Int]) -> String {
        guard !names.isEmpty else { return text }
        let b = Array(text.utf8)
        var out = [UInt8]()
        out.reserveCapacity(b.count)
        var i = 0
        let modifiers: [[UInt8]] = [[], [UInt8(ascii: ".")], [UInt8(ascii: "/")], [UInt8(ascii: "/"), UInt8(ascii: "/")],
                                    [UInt8(ascii: "/"), UInt8(ascii: ".")]]
        scan: while i < b.count {
            if b[i] == UInt8(ascii: "{") {
                // The longest `NAME` + modifier that closes with `}` here.
                var close = i + 1
                while close < b.count, b[close] != UInt8(ascii: "}"), close - i < 4096 { close += 1 }
                if close < b.count, b[close] == UInt8(ascii: "}") {
                    let inner = Array(b[(i + 1)..<close])
                    for m in modifiers where inner.count > m.count && inner.suffix(m.count).elementsEqual(m) {
                        let name = String(decoding: inner.dropLast(m.count), as: UTF8.self)
                        if let k = names[name] {
                            out.append(contentsOf: "{\(k)".utf8)
                            out.append(contentsOf: m)
                            out.append(UInt8(ascii: "}"))
                            i = close + 1
                            continue scan
                        }
                    }
                }
            }
            out.append(b[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
