// A parsed JSON value, and its text.

/// A JSON value. Integers that fit an Int64 stay exact (`integer`); other numbers are `number` (Double).
/// Equal numbers compare equal whichever case holds them.
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }
    /// The value as an Int when it is a whole number an Int holds exactly.
    public var int: Int? {
        switch self {
        case .integer(let i): return Int(exactly: i)
        case .number(let d) where d.isFinite && d == d.rounded() && abs(d) < 9e15: return Int(d)
        default: return nil
        }
    }
    public var double: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .number(let d): return d
        default: return nil
        }
    }
    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
    public var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
    public var object: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Compact JSON text, object keys sorted (see `keyOrder`) so equal values give equal bytes.
    public var text: String { String(decoding: bytes, as: UTF8.self) }
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        write(to: &out)
        return out
    }

    /// Appends the compact text. Whole numbers below 9e15 are written without a fraction; NaN and infinities,
    /// which JSON cannot hold, are written as `null`.
    public func write(to out: inout [UInt8]) {
        switch self {
        case .null: JSONBytes.appendNull(to: &out)
        case .bool(let b): JSONBytes.appendBool(b, to: &out)
        case .integer(let i): JSONBytes.appendInt(Int(i), to: &out)
        case .number(let d):
            if d.isFinite && d == d.rounded() && abs(d) < 9e15 {
                JSONBytes.appendInt(Int(d), to: &out)
            } else {
                JSONBytes.appendDouble(d, to: &out)
            }
        case .string(let s): JSONBytes.appendString(s, to: &out)
        case .array(let a):
            out.append(0x5B)
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(0x2C) }
                v.write(to: &out)
            }
            out.append(0x5D)
        case .object(let o):
            out.append(0x7B)
            for (i, k) in o.keys.sorted(by: JSONValue.keyOrder).enumerated() {
                if i > 0 { out.append(0x2C) }
                JSONBytes.appendString(k, to: &out)
                out.append(0x3A)
                o[k]!.write(to: &out)
            }
            out.append(0x7D)
        }
    }

    /// Indented text (two spaces a level, keys sorted), for people.
    public var prettyText: String {
        var out: [UInt8] = []
        writePretty(to: &out, indent: 0)
        return String(decoding: out, as: UTF8.self)
    }

    private func writePretty(to out: inout [UInt8], indent: Int) {
        func newline(_ level: Int) {
            out.append(10)
            out.append(contentsOf: repeatElement(0x20, count: 2 * level))
        }
        switch self {
        case .array(let a) where !a.isEmpty:
            out.append(0x5B)
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(0x2C) }
                newline(indent + 1)
                v.writePretty(to: &out, indent: indent + 1)
            }
            newline(indent)
            out.append(0x5D)
        case .object(let o) where !o.isEmpty:
            out.append(0x7B)
            for (i, k) in o.keys.sorted(by: JSONValue.keyOrder).enumerated() {
                if i > 0 { out.append(0x2C) }
                newline(indent + 1)
                JSONBytes.appendString(k, to: &out)
                out.append(contentsOf: [0x20, 0x3A, 0x20])
                o[k]!.writePretty(to: &out, indent: indent + 1)
            }
            newline(indent)
            out.append(0x7D)
        default: write(to: &out)
        }
    }

    /// Keys in byte order, except that `$ne` comes first: ipyparallel's hub (a MongoDB-style query) evaluates
    /// operators in the order written, and a `$ne: null` guard must run before a date comparison.
    static func keyOrder(_ a: String, _ b: String) -> Bool {
        if a == "$ne" { return b != "$ne" }
        if b == "$ne" { return false }
        return a < b
    }
}

extension JSONValue: Hashable {
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.integer(let x), .integer(let y)): return x == y
        case (.integer, .number), (.number, .integer), (.number, .number): return a.double == b.double
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x == y
        default: return false
        }
    }
    public func hash(into h: inout Hasher) {
        switch self {
        case .null: h.combine(0)
        case .bool(let b): h.combine(b)
        case .integer, .number: h.combine(double)
        case .string(let s): h.combine(s)
        case .array(let a): h.combine(a)
        case .object(let o): h.combine(o)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral, ExpressibleByFloatLiteral
{
    public init(stringLiteral v: String) { self = .string(v) }
    public init(integerLiteral v: Int) { self = .integer(Int64(v)) }
    public init(floatLiteral v: Double) { self = .number(v) }
    public init(booleanLiteral v: Bool) { self = .bool(v) }
    public init(arrayLiteral v: JSONValue...) { self = .array(v) }
    public init(dictionaryLiteral v: (String, JSONValue)...) { self = .object(Dictionary(v, uniquingKeysWith: { $1 })) }
    public init(nilLiteral: ()) { self = .null }
}
