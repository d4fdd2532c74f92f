// The one JSON parser: RFC 8259 text into a `JSONValue`, and a scanner over an object's members that builds nothing.

/// Where and why JSON text could not be parsed.
public struct JSONParseError: Error, CustomStringConvertible, Sendable, Equatable {
    public var offset: Int
    public var reason: String
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

extension JSONValue {
    /// Parses one JSON document (surrounding white space allowed). Refuses what JSON cannot hold: raw control
    /// characters in strings, numbers beyond a Double's range, and `NaN`/`Infinity` unless `allowNonFinite`
    /// (Python's `json` writes them, so Jupyter messages may hold them).
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>, allowNonFinite: Bool = false) throws(JSONParseError)
        -> JSONValue
    {
        var p = JSONParser(b: bytes, allowNonFinite: allowNonFinite)
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == bytes.count else { throw p.error("trailing characters") }
        return v
    }
    public static func parse(_ bytes: [UInt8], allowNonFinite: Bool = false) throws(JSONParseError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { b throws(JSONParseError) in try parse(b, allowNonFinite: allowNonFinite) }
    }
    public static func parse(_ text: String, allowNonFinite: Bool = false) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8), allowNonFinite: allowNonFinite)
    }
}

struct JSONParser {
    let b: UnsafeBufferPointer<UInt8>
    var allowNonFinite = false
    var i = 0

    init(b: UnsafeBufferPointer<UInt8>, allowNonFinite: Bool = false, at i: Int = 0) {
        self.b = b
        self.allowNonFinite = allowNonFinite
        self.i = i
    }

    func error(_ reason: String) -> JSONParseError { JSONParseError(offset: i, reason: reason) }

    mutating func skipSpace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    mutating func expect(_ c: UInt8, _ what: String) throws(JSONParseError) {
        skipSpace()
        guard i < b.count, b[i] == c else { throw error("expected \(what)") }
        i += 1
    }

    /// Whether the next non-space byte is `c` (then it is consumed).
    mutating func take(_ c: UInt8) -> Bool {
        skipSpace()
        guard i < b.count, b[i] == c else { return false }
        i += 1
        return true
    }

    mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth < 512 else { throw error("nested too deeply") }
        skipSpace()
        guard i < b.count else { throw error("unexpected end") }
        switch b[i] {
        case 0x7B:  // {
            i += 1
            var o: [String: JSONValue] = [:]
            if take(0x7D) { return .object(o) }
            repeat {
                skipSpace()
                guard i < b.count, b[i] == 0x22 else { throw error("expected a key") }
                let k = try string()
                try expect(0x3A, "':'")
                o[k] = try value(depth: depth + 1)
            } while take(0x2C)
            try expect(0x7D, "',' or '}'")
            return .object(o)
        case 0x5B:  // [
            i += 1
            var a: [JSONValue] = []
            if take(0x5D) { return .array(a) }
            repeat { a.append(try value(depth: depth + 1)) } while take(0x2C)
            try expect(0x5D, "',' or ']'")
            return .array(a)
        case 0x22: return .string(try string())
        case 0x74:
            try literal("true")
            return .bool(true)
        case 0x66:
            try literal("false")
            return .bool(false)
        case 0x6E:
            try literal("null")
            return .null
        case 0x4E where allowNonFinite:
            try literal("NaN")
            return .number(.nan)
        case 0x49 where allowNonFinite:
            try literal("Infinity")
            return .number(.infinity)
        default: return try number()
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count else { throw error("unexpected end") }
        for k in 0..<n where b[i + k] != word.utf8Start[k] { throw error("unexpected character") }
        i += n
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`: exact in `integer` when it fits an Int64.
    mutating func number() throws(JSONParseError) -> JSONValue {
        let start = i
        var negative = false
        if i < b.count, b[i] == 0x2D {
            negative = true
            i += 1
            if allowNonFinite, i < b.count, b[i] == 0x49 {
                try literal("Infinity")
                return .number(-.infinity)
            }
        }
        func digits() -> Int {
            let s = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            return i - s
        }
        let intStart = i
        let intDigits = digits()
        guard intDigits > 0 else { throw error("invalid number") }
        guard intDigits == 1 || b[intStart] != 0x30 else { throw error("leading zero in a number") }
        var whole = true
        if i < b.count, b[i] == 0x2E {
            i += 1
            whole = false
            guard digits() > 0 else { throw error("invalid number") }
        }
        if i < b.count, b[i] == 0x65 || b[i] == 0x45 {
            i += 1
            whole = false
            if i < b.count, b[i] == 0x2B || b[i] == 0x2D { i += 1 }
            guard digits() > 0 else { throw error("invalid number") }
        }
        if whole && intDigits <= 18 {
            var v: Int64 = 0
            for k in intStart..<i { v = v * 10 + Int64(b[k] - 0x30) }
            return .integer(negative ? -v : v)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
        if whole, let v = Int64(text) { return .integer(v) }
        guard let d = Double(text), d.isFinite else {
            i = start
            throw error("number out of range")
        }
        return .number(d)
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard i + 4 <= b.count else { throw error("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw error("bad \\u escape")
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }

    /// A string literal at `i` (the opening quote). A lone surrogate becomes U+FFFD.
    mutating func string() throws(JSONParseError) -> String {
        i += 1
        let start = i
        // Fast path: no escapes.
        while i < b.count, b[i] != 0x22, b[i] != 0x5C, b[i] >= 0x20 { i += 1 }
        guard i < b.count else { throw error("unterminated string") }
        if b[i] == 0x22 {
            i += 1
            return String(decoding: UnsafeBufferPointer(rebasing: b[start..<(i - 1)]), as: UTF8.self)
        }
        var out = [UInt8](UnsafeBufferPointer(rebasing: b[start..<i]))
        while true {
            guard i < b.count else { throw error("unterminated string") }
            let c = b[i]
            if c == 0x22 {
                i += 1
                return String(decoding: out, as: UTF8.self)
            }
            guard c >= 0x20 else { throw error("control character in a string") }
            i += 1
            if c != 0x5C {
                out.append(c)
                continue
            }
            guard i < b.count else { throw error("unterminated escape") }
            let e = b[i]
            i += 1
            switch e {
            case 0x6E: out.append(0x0A)
            case 0x74: out.append(0x09)
            case 0x72: out.append(0x0D)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x2F, 0x5C, 0x22: out.append(e)
            case 0x75:
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    if i + 1 < b.count, b[i] == 0x5C, b[i + 1] == 0x75 {
                        let save = i
                        i += 2
                        let low = try hex4()
                        if low >= 0xDC00 && low < 0xE000 {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            scalar = 0xFFFD
                            i = save  // the next escape stands on its own
                        }
                    } else {
                        scalar = 0xFFFD
                    }
                }
                let u = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                UTF8.encode(u) { out.append($0) }
            default: throw error("bad escape")
            }
        }
    }

    /// Skips one value, checking its shape but building nothing.
    mutating func skipValue(depth: Int) throws(JSONParseError) {
        guard depth < 512 else { throw error("nested too deeply") }
        skipSpace()
        guard i < b.count else { throw error("unexpected end") }
        switch b[i] {
        case 0x7B:
            i += 1
            if take(0x7D) { return }
            repeat {
                skipSpace()
                guard i < b.count, b[i] == 0x22 else { throw error("expected a key") }
                try skipString()
                try expect(0x3A, "':'")
                try skipValue(depth: depth + 1)
            } while take(0x2C)
            try expect(0x7D, "',' or '}'")
        case 0x5B:
            i += 1
            if take(0x5D) { return }
            repeat { try skipValue(depth: depth + 1) } while take(0x2C)
            try expect(0x5D, "',' or ']'")
        case 0x22: try skipString()
        default: _ = try value(depth: depth)
        }
    }

    mutating func skipString() throws(JSONParseError) {
        i += 1
        while i < b.count {
            let c = b[i]
            if c == 0x22 {
                i += 1
                return
            }
            guard c >= 0x20 else { throw error("control character in a string") }
            i += c == 0x5C ? 2 : 1
        }
        throw error("unterminated string")
    }
}

/// Walks the members of one JSON object without building values: for readers that want a few keys of a long line
/// (the journal's skim). Keys are compared as written (no escapes in the keys asked for).
public struct JSONObjectScanner {
    private var p: JSONParser
    private var done = false

    /// A scanner over `bytes`, which must hold a JSON object (white space around it allowed).
    public init(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONParseError) {
        p = JSONParser(b: bytes)
        try p.expect(0x7B, "'{'")
        done = p.take(0x7D)
    }

    /// The next member: its key's raw bytes and where its value starts; nil after the last. The caller reads
    /// the value with one of the `value...` methods, or calls `skip`.
    public mutating func next() throws(JSONParseError) -> UnsafeBufferPointer<UInt8>? {
        if done { return nil }
        if pending {
            try p.skipValue(depth: 1)
            pending = false
            if !p.take(0x2C) {
                try p.expect(0x7D, "',' or '}'")
                done = true
                return nil
            }
        }
        p.skipSpace()
        guard p.i < p.b.count, p.b[p.i] == 0x22 else { throw p.error("expected a key") }
        let start = p.i + 1
        try p.skipString()
        let key = UnsafeBufferPointer(rebasing: p.b[start..<(p.i - 1)])
        try p.expect(0x3A, "':'")
        pending = true
        return key
    }
    private var pending = false

    /// Reads the current member's value.
    public mutating func value() throws(JSONParseError) -> JSONValue {
        pending = false
        let v = try p.value(depth: 1)
        if !p.take(0x2C) {
            try p.expect(0x7D, "',' or '}'")
            done = true
        }
        return v
    }

    /// Whether `key` (from `next`) spells `name`.
    public static func key(_ key: UnsafeBufferPointer<UInt8>, is name: StaticString) -> Bool {
        guard key.count == name.utf8CodeUnitCount else { return false }
        for k in 0..<key.count where key[k] != name.utf8Start[k] { return false }
        return true
    }
}
