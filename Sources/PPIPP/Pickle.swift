// Python pickles, written and read by hand: a call by name for `apply_request`, and the results engines send back.

/// A Python value as a pickle describes it; objects of other classes keep their class name, arguments and state.
public indirect enum PickleValue: Sendable, Hashable {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer too large for `Int`, as decimal text when it fits 128 bits, else its byte count.
    case bigInt(String)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case list([PickleValue])
    case tuple([PickleValue])
    case dict([PickleEntry])
    case set([PickleValue])
    /// A class or function referenced by `module.name`.
    case global(module: String, name: String)
    /// An instance: `cls(*args)` then `__setstate__(state)` (or `__dict__.update`).
    case object(cls: String, args: [PickleValue], state: PickleValue?)

    /// The value of `key` in a dict, or in an object's state dict.
    public subscript(key: String) -> PickleValue? {
        switch self {
        case .dict(let entries): return entries.first { $0.key == .string(key) }?.value
        case .object(_, _, let state?): return state[key]
        default: return nil
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
    public var intValue: Int? {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    /// A short Python-like rendering, for display.
    public var repr: String {
        var out = ""
        render(into: &out, budget: 400)
        return out
    }

    private func render(into out: inout String, budget: Int) {
        if out.count > budget {
            return
        }
        func seq(_ items: [PickleValue], _ open: String, _ close: String) {
            out += open
            for (i, v) in items.enumerated() {
                if i > 0 { out += ", " }
                if out.count > budget {
                    out += "..."
                    break
                }
                v.render(into: &out, budget: budget)
            }
            if items.count == 1 && open == "(" { out += "," }
            out += close
        }
        switch self {
        case .none: out += "None"
        case .bool(let b): out += b ? "True" : "False"
        case .int(let i): out += String(i)
        case .bigInt(let s): out += s
        case .float(let d): out += d == d.rounded() && abs(d) < 1e16 ? String(format: "%.1f", d) : String(d)
        case .string(let s): out += "'" + s.replacingOccurrences(of: "\n", with: "\\n") + "'"
        case .bytes(let b): out += "b<\(b.count) bytes>"
        case .list(let a): seq(a, "[", "]")
        case .tuple(let a): seq(a, "(", ")")
        case .set(let a): seq(a, "{", "}")
        case .dict(let entries):
            out += "{"
            for (i, e) in entries.enumerated() {
                if i > 0 { out += ", " }
                e.key.render(into: &out, budget: budget)
                out += ": "
                e.value.render(into: &out, budget: budget)
            }
            out += "}"
        case .global(let m, let n): out += m + "." + n
        case .object(let cls, _, _): out += "<" + cls + ">"
        }
    }

    /// The value as JSON where it maps (objects become `{"__class__": ..., state...}`), for `--json`.
    public var json: JSON {
        switch self {
        case .none: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .number(Double(i))
        case .bigInt(let s): return .string(s)
        case .float(let d): return .number(d)
        case .string(let s): return .string(s)
        case .bytes(let b): return .string(String(decoding: b, as: UTF8.self))
        case .list(let a), .tuple(let a), .set(let a): return .array(a.map(\.json))
        case .dict(let entries):
            var o: [String: JSON] = [:]
            for e in entries { o[e.key.stringValue ?? e.key.repr] = e.value.json }
            return .object(o)
        case .global(let m, let n): return .string(m + "." + n)
        case .object(let cls, let args, let state):
            var o: [String: JSON] = ["__class__": .string(cls)]
            if case .dict(let entries)? = state {
                for e in entries { o[e.key.stringValue ?? e.key.repr] = e.value.json }
            } else if let state {
                o["__state__"] = state.json
            }
            if !args.isEmpty { o["__args__"] = .array(args.map(\.json)) }
            return .object(o)
        }
    }
}

/// One key/value pair of a pickled dict, in the pickle's order.
public struct PickleEntry: Sendable, Hashable {
    public var key: PickleValue
    public var value: PickleValue
    public init(_ key: PickleValue, _ value: PickleValue) {
        self.key = key
        self.value = value
    }
}

/// Why a pickle could not be read.
public struct PickleError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "pickle: " + message }
}

/// Writes pickles (protocol 3) of plain values and globals: enough for `f(*args, **kwargs)` by name.
public enum PickleWriter {
    /// The whole pickle of `value`.
    public static func dumps(_ value: PickleValue) -> [UInt8] {
        var out: [UInt8] = [0x80, 3]
        write(value, into: &out)
        out.append(UInt8(ascii: "."))
        return out
    }

    static func u32(_ n: Int, into out: inout [UInt8]) {
        let v = UInt32(n)
        out += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)]
    }

    static func write(_ v: PickleValue, into out: inout [UInt8]) {
        switch v {
        case .none: out.append(UInt8(ascii: "N"))
        case .bool(let b): out.append(b ? 0x88 : 0x89)
        case .int(let i):
            if i >= 0 && i < 256 {
                out += [UInt8(ascii: "K"), UInt8(i)]
            } else if i >= Int(Int32.min) && i <= Int(Int32.max) {
                out.append(UInt8(ascii: "J"))
                u32(Int(UInt32(bitPattern: Int32(i))), into: &out)
            } else {
                out += [0x8A, 8]
                withUnsafeBytes(of: Int64(i).littleEndian) { out += $0 }
            }
        case .bigInt(let s):
            guard let v = Int128(s) else {
                write(.string(s), into: &out)
                return
            }
            // LONG1: little-endian two's complement, 16 bytes.
            out += [0x8A, 16]
            let u = UInt128(bitPattern: v)
            for k in 0..<16 { out.append(UInt8(truncatingIfNeeded: u >> (8 * UInt128(k)))) }
        case .float(let d):
            out.append(UInt8(ascii: "G"))
            withUnsafeBytes(of: d.bitPattern.bigEndian) { out += $0 }
        case .string(let s):
            let b = Array(s.utf8)
            out.append(UInt8(ascii: "X"))
            u32(b.count, into: &out)
            out += b
        case .bytes(let b):
            out.append(UInt8(ascii: "B"))
            u32(b.count, into: &out)
            out += b
        case .list(let a):
            out.append(UInt8(ascii: "]"))
            if !a.isEmpty {
                out.append(UInt8(ascii: "("))
                for x in a { write(x, into: &out) }
                out.append(UInt8(ascii: "e"))
            }
        case .tuple(let a):
            if a.isEmpty {
                out.append(UInt8(ascii: ")"))
            } else {
                out.append(UInt8(ascii: "("))
                for x in a { write(x, into: &out) }
                out.append(UInt8(ascii: "t"))
            }
        case .set(let a):
            out.append(UInt8(ascii: "c"))
            out += Array("builtins\nset\n".utf8)
            write(.tuple([.list(a)]), into: &out)
            out.append(UInt8(ascii: "R"))
        case .dict(let entries):
            out.append(UInt8(ascii: "}"))
            if !entries.isEmpty {
                out.append(UInt8(ascii: "("))
                for e in entries {
                    write(e.key, into: &out)
                    write(e.value, into: &out)
                }
                out.append(UInt8(ascii: "u"))
            }
        case .global(let m, let n):
            out.append(UInt8(ascii: "c"))
            out += Array((m + "\n" + n + "\n").utf8)
        case .object(let cls, let args, let state):
            let dot = cls.lastIndex(of: ".") ?? cls.startIndex
            write(.global(module: String(cls[..<dot]), name: String(cls[cls.index(after: dot)...])), into: &out)
            write(.tuple(args), into: &out)
            out.append(UInt8(ascii: "R"))
            if let state {
                write(state, into: &out)
                out.append(UInt8(ascii: "b"))
            }
        }
    }
}

/// Reads pickles of protocols 0-5 made of builtin values; instances of other classes become `.object`.
public struct PickleReader {
    private let b: [UInt8]
    private var i = 0
    private var stack: [PickleValue] = []
    /// How deeply each stack value nests (0 for a scalar), kept beside it: a hostile pickle of 100,000 nested lists
    /// (400 KB) would otherwise overflow the thread's stack when the value is compared, printed or freed.
    private var depths: [Int] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private var memoDepths: [Int: Int] = [:]

    /// The deepest nesting read; CPython's own pickles of real results stay far below it.
    public static let maxDepth = 200

    /// Decodes one pickle.
    public static func loads(_ bytes: [UInt8]) throws(PickleError) -> PickleValue {
        var r = PickleReader(b: bytes)
        return try r.run()
    }

    private init(b: [UInt8]) { self.b = b }

    private mutating func byte() throws(PickleError) -> UInt8 {
        guard i < b.count else { throw PickleError("truncated at byte \(i)") }
        defer { i += 1 }
        return b[i]
    }
    private mutating func take(_ n: Int) throws(PickleError) -> ArraySlice<UInt8> {
        // `n` comes from the pickle (up to Int.max): compared with what is left, so no sum can overflow.
        guard n >= 0, n <= b.count - i else { throw PickleError("truncated at byte \(i)") }
        defer { i += n }
        return b[i..<(i + n)]
    }
    private mutating func uint(_ n: Int) throws(PickleError) -> Int {
        let s = try take(n)
        var v: UInt64 = 0
        for (k, x) in s.enumerated() { v |= UInt64(x) << (8 * UInt64(k)) }
        guard v <= UInt64(Int.max) else { throw PickleError("length too large") }
        return Int(v)
    }
    private mutating func line() throws(PickleError) -> String {
        guard let nl = b[i...].firstIndex(of: 0x0A) else { throw PickleError("unterminated line at byte \(i)") }
        defer { i = nl + 1 }
        return String(decoding: b[i..<nl], as: UTF8.self)
    }
    private mutating func pop() throws(PickleError) -> PickleValue { try popDepth().0 }
    /// The top value and how deeply it nests.
    private mutating func popDepth() throws(PickleError) -> (PickleValue, Int) {
        guard let v = stack.popLast(), let d = depths.popLast() else { throw PickleError("stack underflow at byte \(i)") }
        if let m = marks.last, stack.count < m { throw PickleError("popped past a mark at byte \(i)") }
        return (v, d)
    }
    private mutating func popMark() throws(PickleError) -> [PickleValue] { try popMarkDepth().0 }
    /// The values above the last mark and the deepest nesting among them.
    private mutating func popMarkDepth() throws(PickleError) -> ([PickleValue], Int) {
        guard let m = marks.popLast(), m <= stack.count else { throw PickleError("no mark at byte \(i)") }
        let items = Array(stack[m...])
        let d = depths[m...].max() ?? 0
        stack.removeSubrange(m...)
        depths.removeSubrange(m...)
        return (items, d)
    }
    /// Pushes `v`, which nests `depth` deep; refuses past `maxDepth`.
    private mutating func push(_ v: PickleValue, depth: Int = 0) throws(PickleError) {
        try checkDepth(depth)
        stack.append(v)
        depths.append(depth)
    }
    private func checkDepth(_ depth: Int) throws(PickleError) {
        guard depth <= Self.maxDepth else {
            throw PickleError("values nested over \(Self.maxDepth) deep at byte \(i)")
        }
    }
    /// The top value now holds something `depth` deep.
    private mutating func deepenTop(_ t: Int, to depth: Int) throws(PickleError) {
        try checkDepth(depth)
        depths[t] = max(depths[t], depth)
    }
    private mutating func top() throws(PickleError) -> Int {
        guard !stack.isEmpty else { throw PickleError("stack underflow at byte \(i)") }
        return stack.count - 1
    }

    private static func littleEndianSigned(_ s: ArraySlice<UInt8>) -> PickleValue {
        if s.isEmpty { return .int(0) }
        if s.count <= 8 {
            var v: UInt64 = 0
            for (k, x) in s.enumerated() { v |= UInt64(x) << (8 * UInt64(k)) }
            if s.count < 8, s.last! & 0x80 != 0 { v |= ~UInt64(0) << (8 * UInt64(s.count)) }
            return .int(Int(Int64(bitPattern: v)))
        }
        if s.count <= 16 {
            var v: UInt128 = 0
            for (k, x) in s.enumerated() { v |= UInt128(x) << (8 * UInt128(k)) }
            if s.count < 16, s.last! & 0x80 != 0 { v |= ~UInt128(0) << (8 * UInt128(s.count)) }
            return .bigInt(String(Int128(bitPattern: v)))
        }
        return .bigInt("<int of \(s.count) bytes>")
    }

    private static func setItems(_ target: inout PickleValue, _ items: [PickleValue]) throws(PickleError) {
        guard items.count % 2 == 0 else { throw PickleError("odd number of dict items") }
        var pairs: [PickleEntry] = []
        var k = 0
        while k < items.count {
            pairs.append(PickleEntry(items[k], items[k + 1]))
            k += 2
        }
        switch target {
        case .dict(var entries):
            for p in pairs {
                if let j = entries.firstIndex(where: { $0.key == p.key }) { entries[j] = p } else { entries.append(p) }
            }
            target = .dict(entries)
        case .object(let cls, let args, let state):
            // A dict subclass (OrderedDict, defaultdict ...): keep the items as its state.
            var entries: [PickleEntry] = []
            if case .dict(let e)? = state { entries = e }
            entries += pairs
            target = .object(cls: cls, args: args, state: .dict(entries))
        default: throw PickleError("SETITEM on a non-dict")
        }
    }

    private static func appendItems(_ target: inout PickleValue, _ items: [PickleValue]) throws(PickleError) {
        switch target {
        case .list(let a): target = .list(a + items)
        case .set(let a): target = .set(a + items)
        case .object(let cls, let args, let state):
            var a: [PickleValue] = []
            if case .list(let x)? = state { a = x }
            target = .object(cls: cls, args: args, state: .list(a + items))
        default: throw PickleError("APPEND on a non-list")
        }
    }

    /// Instantiates `callable(*args)`: builtins become values, anything else an `.object`.
    private static func call(_ callable: PickleValue, _ args: [PickleValue]) -> PickleValue {
        guard case .global(let m, let n) = callable else {
            if case .object(let cls, _, _) = callable { return .object(cls: cls, args: args, state: nil) }
            return .object(cls: callable.repr, args: args, state: nil)
        }
        switch (m, n) {
        case ("builtins", "set"), ("builtins", "frozenset"):
            if case .list(let a)? = args.first { return .set(a) }
            if case .tuple(let a)? = args.first { return .set(a) }
            return .set([])
        case ("builtins", "bytearray"), ("builtins", "bytes"):
            if case .bytes(let x)? = args.first { return .bytes(x) }
            return .bytes([])
        case ("builtins", "range"):
            // A short range (a map chunk) reads best as its elements.
            let v = args.compactMap(\.intValue)
            if v.count == args.count, (1...3).contains(v.count) {
                let (start, stop, step) = v.count == 1 ? (0, v[0], 1) : (v[0], v[1], v.count == 3 ? v[2] : 1)
                // The bounds come from the pickle: a span or quotient that overflows is not short.
                let (span, spanOverflow) = stop.subtractingReportingOverflow(start)
                let (n, nOverflow) = span.dividedReportingOverflow(by: step)
                if step != 0, !spanOverflow, !nOverflow, n <= 50 {
                    return .list(stride(from: start, to: stop, by: step).map { .int($0) })
                }
            }
            return .object(cls: m + "." + n, args: args, state: nil)
        case ("_codecs", "encode"):
            if case .string(let s)? = args.first { return .bytes(Array(s.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })) }
            return .bytes([])
        case ("copyreg", "_reconstructor"):
            if case .global(let cm, let cn)? = args.first { return .object(cls: cm + "." + cn, args: [], state: nil) }
            return .object(cls: m + "." + n, args: args, state: nil)
        default:
            return .object(cls: m + "." + n, args: args, state: nil)
        }
    }

    private mutating func run() throws(PickleError) -> PickleValue {
        while true {
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()  // PROTO
            case 0x95: _ = try take(8)  // FRAME
            case UInt8(ascii: "."):  // STOP
                guard let v = stack.popLast() else { throw PickleError("empty stack at STOP") }
                depths.removeLast()
                return v
            case UInt8(ascii: "("): marks.append(stack.count)
            case UInt8(ascii: "0"): _ = try pop()
            case UInt8(ascii: "1"): _ = try popMark()
            case UInt8(ascii: "2"):
                let t = try top()
                try push(stack[t], depth: depths[t])
            case UInt8(ascii: "N"): try push(.none)
            case 0x88: try push(.bool(true))
            case 0x89: try push(.bool(false))
            case UInt8(ascii: "K"): try push(.int(Int(try byte())))
            case UInt8(ascii: "M"): try push(.int(try uint(2)))
            case UInt8(ascii: "J"): try push(.int(Int(Int32(bitPattern: UInt32(try uint(4))))))
            case 0x8A: let n = Int(try byte()); try push(Self.littleEndianSigned(try take(n)))
            case 0x8B:
                let n = Int(Int32(bitPattern: UInt32(try uint(4))))
                try push(Self.littleEndianSigned(try take(n)))
            case UInt8(ascii: "I"):
                let s = try line()
                if s == "01" { try push(.bool(true)) } else if s == "00" { try push(.bool(false)) } else {
                    try push(Int(s).map { .int($0) } ?? .bigInt(s))
                }
            case UInt8(ascii: "L"):
                var s = try line()
                if s.hasSuffix("L") { s.removeLast() }
                try push(Int(s).map { .int($0) } ?? .bigInt(s))
            case UInt8(ascii: "G"):
                let s = try take(8)
                var v: UInt64 = 0
                for x in s { v = v << 8 | UInt64(x) }
                try push(.float(Double(bitPattern: v)))
            case UInt8(ascii: "F"): try push(.float(Double(try line()) ?? .nan))
            case 0x8C: let n = Int(try byte()); try push(.string(String(decoding: try take(n), as: UTF8.self)))
            case UInt8(ascii: "X"): let n = try uint(4); try push(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x8D: let n = try uint(8); try push(.string(String(decoding: try take(n), as: UTF8.self)))
            case UInt8(ascii: "V"): try push(.string(try line()))
            case UInt8(ascii: "C"): let n = Int(try byte()); try push(.bytes(Array(try take(n))))
            case UInt8(ascii: "B"): let n = try uint(4); try push(.bytes(Array(try take(n))))
            case 0x8E, 0x96: let n = try uint(8); try push(.bytes(Array(try take(n))))
            case UInt8(ascii: "U"): let n = Int(try byte()); try push(.bytes(Array(try take(n))))
            case UInt8(ascii: "T"): let n = try uint(4); try push(.bytes(Array(try take(n))))
            case UInt8(ascii: "S"):
                var s = try line()
                if s.count >= 2, let f = s.first, f == "'" || f == "\"" { s = String(s.dropFirst().dropLast()) }
                try push(.string(s))
            case UInt8(ascii: ")"): try push(.tuple([]))
            case 0x85:
                let (a, da) = try popDepth()
                try push(.tuple([a]), depth: da + 1)
            case 0x86:
                let (b2, db) = try popDepth()
                let (a, da) = try popDepth()
                try push(.tuple([a, b2]), depth: max(da, db) + 1)
            case 0x87:
                let (c, dc) = try popDepth()
                let (b2, db) = try popDepth()
                let (a, da) = try popDepth()
                try push(.tuple([a, b2, c]), depth: max(da, db, dc) + 1)
            case UInt8(ascii: "t"):
                let (items, d) = try popMarkDepth()
                try push(.tuple(items), depth: d + 1)
            case UInt8(ascii: "]"): try push(.list([]))
            case UInt8(ascii: "l"):
                let (items, d) = try popMarkDepth()
                try push(.list(items), depth: d + 1)
            case UInt8(ascii: "}"): try push(.dict([]))
            case UInt8(ascii: "d"):
                var d = PickleValue.dict([])
                let (items, depth) = try popMarkDepth()
                try Self.setItems(&d, items)
                try push(d, depth: depth + 1)
            case 0x8F: try push(.set([]))
            case 0x91:
                let (items, d) = try popMarkDepth()
                try push(.set(items), depth: d + 1)
            case UInt8(ascii: "a"):
                let (v, d) = try popDepth()
                let t = try top()
                try deepenTop(t, to: d + 2)
                try Self.appendItems(&stack[t], [v])
            case UInt8(ascii: "e"), 0x90:
                let (items, d) = try popMarkDepth()
                let t = try top()
                try deepenTop(t, to: d + 2)
                try Self.appendItems(&stack[t], items)
            case UInt8(ascii: "s"):
                let (v, dv) = try popDepth()
                let (k, dk) = try popDepth()
                let t = try top()
                try deepenTop(t, to: max(dv, dk) + 2)
                try Self.setItems(&stack[t], [k, v])
            case UInt8(ascii: "u"):
                let (items, d) = try popMarkDepth()
                let t = try top()
                try deepenTop(t, to: d + 2)
                try Self.setItems(&stack[t], items)
            case UInt8(ascii: "c"):
                let m = try line()
                let n = try line()
                try push(.global(module: Self.python3Module[m] ?? m, name: n))
            case 0x93:
                let n = try pop()
                let m = try pop()
                try push(.global(module: m.stringValue ?? m.repr, name: n.stringValue ?? n.repr))
            case UInt8(ascii: "R"):
                let (args, da) = try popDepth()
                let (f, df) = try popDepth()
                guard case .tuple(let a) = args else { throw PickleError("REDUCE without an argument tuple") }
                try push(Self.call(f, a), depth: max(da, df) + 1)
            case 0x81:
                let (args, da) = try popDepth()
                let (cls, dc) = try popDepth()
                guard case .tuple(let a) = args else { throw PickleError("NEWOBJ without an argument tuple") }
                try push(Self.call(cls, a), depth: max(da, dc) + 1)
            case 0x92:
                _ = try pop()  // kwargs
                let (args, da) = try popDepth()
                let (cls, dc) = try popDepth()
                guard case .tuple(let a) = args else { throw PickleError("NEWOBJ_EX without an argument tuple") }
                try push(Self.call(cls, a), depth: max(da, dc) + 1)
            case UInt8(ascii: "b"):
                let (state, ds) = try popDepth()
                let t = try top()
                try deepenTop(t, to: ds + 2)
                switch stack[t] {
                case .object(let cls, let args, let old):
                    var merged = state
                    // (dict, slots) state tuples: keep the dict part merged with the slots.
                    if case .tuple(let parts) = state, parts.count == 2 {
                        var entries: [PickleEntry] = []
                        if case .dict(let a) = parts[0] { entries += a }
                        if case .dict(let c) = parts[1] { entries += c }
                        merged = .dict(entries)
                    }
                    if case .dict(let newEntries) = merged, case .dict(let oldEntries)? = old {
                        merged = .dict(oldEntries + newEntries)
                    }
                    stack[t] = .object(cls: cls, args: args, state: merged)
                default:
                    stack[t] = .object(cls: stack[t].repr, args: [], state: state)
                }
            case 0x94: try memoPut(memo.count)
            case UInt8(ascii: "q"): try memoPut(Int(try byte()))
            case UInt8(ascii: "r"): try memoPut(try uint(4))
            case UInt8(ascii: "p"): try memoPut(Int(try line()) ?? -1)
            case UInt8(ascii: "h"): try memoPush(Int(try byte()))
            case UInt8(ascii: "j"): try memoPush(try uint(4))
            case UInt8(ascii: "g"): try memoPush(Int(try line()) ?? -1)
            case 0x97, 0x98: throw PickleError("out-of-band buffers are not supported")
            case UInt8(ascii: "P"), UInt8(ascii: "Q"): throw PickleError("persistent ids are not supported")
            default:
                throw PickleError("unknown opcode 0x\(String(op, radix: 16)) at byte \(i - 1)")
            }
        }
    }

    /// Python 2 module names that protocols 0-2 write for compatibility (pickle's `fix_imports`).
    static let python3Module = [
        "__builtin__": "builtins", "copy_reg": "copyreg", "commands": "subprocess", "exceptions": "builtins",
        "Queue": "queue", "cPickle": "pickle",
    ]

    private mutating func memoPut(_ k: Int) throws(PickleError) {
        let t = try top()
        memo[k] = stack[t]
        memoDepths[k] = depths[t]
    }

    private mutating func memoPush(_ k: Int) throws(PickleError) {
        guard let v = memo[k] else { throw PickleError("memo \(k) missing") }
        try push(v, depth: memoDepths[k] ?? 0)
    }
}
