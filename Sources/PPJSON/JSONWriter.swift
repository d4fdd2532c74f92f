// The one JSON writer: appends JSON text to a byte buffer, so a caller that reuses its buffer allocates nothing.

/// Appends JSON literals to a byte buffer.
public enum JSONBytes {
    /// Appends `s` as a JSON string literal. Escapes `"`, `\`, the control characters, DEL and U+2028/U+2029
    /// (the line separators some JavaScript readers split on); everything else goes through byte for byte.
    @inlinable
    public static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { appendEscaped($0, to: &out) }
        if done == nil {
            let copy = Array(s.utf8)  // a bridged string without contiguous UTF-8 (rare)
            copy.withUnsafeBufferPointer { appendEscaped($0, to: &out) }
        }
        out.append(0x22)
    }

    /// Appends UTF-8 bytes, escaped for the inside of a JSON string literal.
    @usableFromInline
    static func appendEscaped(_ b: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var run = 0
        var i = 0
        let n = b.count
        while i < n {
            let c = b[i]
            let escape: Bool
            if c < 0x20 || c == 0x22 || c == 0x5C || c == 0x7F {
                escape = true
            } else if c == 0xE2, i + 2 < n, b[i + 1] == 0x80, b[i + 2] == 0xA8 || b[i + 2] == 0xA9 {
                escape = true
            } else {
                escape = false
            }
            if !escape {
                i += 1
                continue
            }
            if run < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: b[run..<i])) }
            switch c {
            case 0x22, 0x5C:
                out.append(0x5C)
                out.append(c)
            case 0x0A:
                out.append(0x5C)
                out.append(0x6E)
            case 0x0D:
                out.append(0x5C)
                out.append(0x72)
            case 0x09:
                out.append(0x5C)
                out.append(0x74)
            case 0xE2:
                appendUnicodeEscape(b[i + 2] == 0xA8 ? 0x2028 : 0x2029, to: &out)
                i += 2
            default: appendUnicodeEscape(UInt32(c), to: &out)
            }
            i += 1
            run = i
        }
        if run < n { out.append(contentsOf: UnsafeBufferPointer(rebasing: b[run..<n])) }
    }

    /// `\uXXXX` with lowercase hex digits.
    static func appendUnicodeEscape(_ v: UInt32, to out: inout [UInt8]) {
        out.append(0x5C)
        out.append(0x75)
        for shift in stride(from: 12, through: 0, by: -4) {
            let d = UInt8((v >> UInt32(shift)) & 0xF)
            out.append(d < 10 ? 0x30 + d : 0x57 + d)
        }
    }

    /// Appends an integer in decimal.
    @inlinable
    public static func appendInt(_ v: Int, to out: inout [UInt8]) {
        if v < 0 { out.append(0x2D) }
        var m = v.magnitude
        if m < 10 {
            out.append(0x30 + UInt8(m))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes on the stack: room for 20 digits
        withUnsafeMutableBytes(of: &digits) { d in
            // Two digits a step (a microsecond time has 16): half the divisions of one at a time.
            var k = 24
            while m >= 100 {
                let (q, r) = m.quotientAndRemainder(dividingBy: 100)
                let (t, u) = r.quotientAndRemainder(dividingBy: 10)
                d[k - 1] = 0x30 + UInt8(truncatingIfNeeded: u)
                d[k - 2] = 0x30 + UInt8(truncatingIfNeeded: t)
                k -= 2
                m = q
            }
            if m >= 10 {
                d[k - 1] = 0x30 + UInt8(truncatingIfNeeded: m % 10)
                d[k - 2] = 0x30 + UInt8(truncatingIfNeeded: m / 10)
                k -= 2
            } else if m > 0 {
                d[k - 1] = 0x30 + UInt8(truncatingIfNeeded: m)
                k -= 1
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: d[k...]))
        }
    }

    /// Appends a finite number as Swift spells it (`0.5`, `1.0`, `1e-07`); JSON has no NaN or infinity, so those
    /// are written as `null`.
    public static func appendDouble(_ v: Double, to out: inout [UInt8]) {
        if v.isFinite { out.append(contentsOf: v.description.utf8) } else { appendNull(to: &out) }
    }

    @inlinable public static func appendNull(to out: inout [UInt8]) { appendLiteral("null", to: &out) }

    @inlinable public static func appendBool(_ v: Bool, to out: inout [UInt8]) {
        appendLiteral(v ? "true" : "false", to: &out)
    }

    /// Appends ASCII text known at compile time (no allocation).
    @inlinable public static func appendLiteral(_ s: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    /// Appends `["a","b"]`.
    public static func appendStrings(_ v: [String], to out: inout [UInt8]) {
        out.append(0x5B)
        for (i, s) in v.enumerated() {
            if i > 0 { out.append(0x2C) }
            appendString(s, to: &out)
        }
        out.append(0x5D)
    }
}

/// Writes one JSON object, keys in the order they are added (scripts and the journal's skim rely on a fixed order).
///
/// `JSONObjectWriter.append(to:)` writes straight into a caller's buffer (the journal's reused one); `init()` and
/// `finish()` give a String for one-off lines.
public struct JSONObjectWriter {
    public var bytes: [UInt8]
    @usableFromInline var first = true

    public init() { bytes = [0x7B] }

    /// Appends one object to `out` (no allocation when `out` has room).
    @inlinable
    public static func append(to out: inout [UInt8], _ body: (inout JSONObjectWriter) throws -> Void) rethrows {
        var w = JSONObjectWriter(empty: ())
        swap(&w.bytes, &out)
        defer {
            w.bytes.append(0x7D)
            swap(&w.bytes, &out)
        }
        w.bytes.append(0x7B)
        try body(&w)
    }

    @usableFromInline init(empty: Void) { bytes = [] }

    @inlinable
    public mutating func key(_ k: String) {
        if !first { bytes.append(0x2C) }
        first = false
        JSONBytes.appendString(k, to: &bytes)
        bytes.append(0x3A)
    }
    /// A key known at compile time: ASCII with nothing to escape, copied as it is (the journal's hot lines: no
    /// per-byte escaping scan).
    @inlinable
    public mutating func key(literal k: StaticString) {
        if !first { bytes.append(0x2C) }
        first = false
        bytes.append(0x22)
        JSONBytes.appendLiteral(k, to: &bytes)
        bytes.append(0x22)
        bytes.append(0x3A)
    }
    @inlinable public mutating func add(literal k: StaticString, _ v: Int) {
        key(literal: k)
        JSONBytes.appendInt(v, to: &bytes)
    }
    @inlinable public mutating func add(literal k: StaticString, _ v: String) {
        key(literal: k)
        JSONBytes.appendString(v, to: &bytes)
    }
    @inlinable public mutating func add(_ k: String, _ v: String?) {
        key(k)
        if let v { JSONBytes.appendString(v, to: &bytes) } else { JSONBytes.appendNull(to: &bytes) }
    }
    @inlinable public mutating func add(_ k: String, _ v: Int?) {
        key(k)
        if let v { JSONBytes.appendInt(v, to: &bytes) } else { JSONBytes.appendNull(to: &bytes) }
    }
    /// Non-finite numbers are written as `null`.
    public mutating func add(_ k: String, _ v: Double?) {
        key(k)
        if let v { JSONBytes.appendDouble(v, to: &bytes) } else { JSONBytes.appendNull(to: &bytes) }
    }
    public mutating func add(_ k: String, _ v: Bool) {
        key(k)
        JSONBytes.appendBool(v, to: &bytes)
    }
    public mutating func add(_ k: String, _ v: [String]) {
        key(k)
        JSONBytes.appendStrings(v, to: &bytes)
    }
    /// `[["a"],["b","c"]]`, or `null`.
    public mutating func add(_ k: String, _ v: [[String]]?) {
        key(k)
        guard let v else { return JSONBytes.appendNull(to: &bytes) }
        bytes.append(0x5B)
        for (i, g) in v.enumerated() {
            if i > 0 { bytes.append(0x2C) }
            JSONBytes.appendStrings(g, to: &bytes)
        }
        bytes.append(0x5D)
    }
    /// A wall-clock instant (microseconds since the epoch) as ISO 8601 text, or `null`.
    @inlinable public mutating func add(_ k: String, iso8601 microseconds: Int64?) {
        key(k)
        guard let microseconds else { return JSONBytes.appendNull(to: &bytes) }
        bytes.append(0x22)
        ISO8601.write(microseconds: microseconds, to: &bytes)
        bytes.append(0x22)
    }
    public mutating func add(_ k: String, _ v: JSONValue) {
        key(k)
        v.write(to: &bytes)
    }
    /// Adds an already-encoded JSON value.
    public mutating func addRaw(_ k: String, _ json: String) {
        key(k)
        bytes.append(contentsOf: json.utf8)
    }

    /// The object as text.
    public mutating func finish() -> String { String(decoding: finishBytes(), as: UTF8.self) }
    /// The object as bytes.
    public mutating func finishBytes() -> [UInt8] {
        bytes.append(0x7D)
        return bytes
    }
}
