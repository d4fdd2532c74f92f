// How JSON carries text that may hold bytes that are not UTF-8 (arguments, commands, templates): see ByteText.
import PPJSON
import PPSystem

/// Writing: `KEY` is the text as a reader of text sees it (U+FFFD where a byte is not UTF-8), and only when some
/// byte is not UTF-8, `KEY_base64` right after it holds the exact bytes (standard base64). For a list, `KEY_base64`
/// is a list of the same length with every element's bytes (so element i is always argument i); for any other value
/// (a list of groups, an object) a value of the same shape, strings as base64, other leaves null. Reading:
/// `KEY_base64` wins where present and well formed, else `KEY`.
/// (The same style as `stdout_base64`.)
extension JSONObjectWriter {
    public mutating func addBytes(_ k: String, _ v: String?) {
        guard let v, ByteText.hasEscapes(v) else { return add(k, v) }
        add(k, ByteText.lossy(v))
        add(k + "_base64", Base64.encode(ByteText.bytes(of: v)))
    }

    public mutating func addBytes(_ k: String, _ v: [String]) {
        guard v.contains(where: ByteText.hasEscapes) else { return add(k, v) }
        add(k, v.map(ByteText.lossy))
        add(k + "_base64", v.map { Base64.encode(ByteText.bytes(of: $0)) })
    }

    public mutating func addBytes(_ k: String, _ v: [[String]]?) {
        guard let v, v.contains(where: { $0.contains(where: ByteText.hasEscapes) }) else { return add(k, v) }
        addBytes(k, .array(v.map { .array($0.map(JSONValue.string)) }))
    }

    /// Any value (a header's `args` with ranges, `options`): `KEY` with every string lossy, and when some string is
    /// not UTF-8, `KEY_base64` of the same shape: each string's bytes in base64, anything else null.
    public mutating func addBytes(_ k: String, _ v: JSONValue) {
        guard v.holdsByteEscapes else { return add(k, v) }
        add(k, v.mapStrings { .string(ByteText.lossy($0)) } other: { $0 })
        add(k + "_base64", v.mapStrings { .string(Base64.encode(ByteText.bytes(of: $0))) } other: { _ in .null })
    }
}

extension JSONValue {
    /// `KEY`'s text with its exact bytes from `KEY_base64` when there (see `JSONObjectWriter.addBytes`).
    public func bytesText(_ k: String) -> String? {
        if let b = self[k + "_base64"]?.string.flatMap(Base64.decode) { return ByteText.decode(b) }
        return self[k]?.string
    }

    /// A list of texts, each with its exact bytes from `KEY_base64` when that is a list of the same length.
    public func bytesTexts(_ k: String) -> [String]? {
        if let exact = Self.decodedList(self[k + "_base64"]), exact.count == self[k]?.array?.count { return exact }
        return self[k]?.array?.compactMap(\.string)
    }

    /// A list of groups of texts, exact from `KEY_base64` where that has the same shape.
    public func bytesTextGroups(_ k: String) -> [[String]]? {
        bytesValue(k)?.array?.map { $0.array?.compactMap(\.string) ?? [] }
    }

    /// `KEY`'s value with each string replaced by the exact text `KEY_base64` holds at the same place (where it
    /// holds well-formed base64 there); anything else as `KEY` has it.
    public func bytesValue(_ k: String) -> JSONValue? {
        guard let plain = self[k] else { return nil }
        guard let exact = self[k + "_base64"] else { return plain }
        return Self.merged(plain, exact)
    }

    static func merged(_ plain: JSONValue, _ exact: JSONValue) -> JSONValue {
        switch (plain, exact) {
        case (.string, .string(let b64)):
            return Base64.decode(b64).map { .string(ByteText.decode($0)) } ?? plain
        case (.array(let p), .array(let e)) where p.count == e.count:
            return .array(zip(p, e).map { merged($0, $1) })
        case (.object(let p), .object(let e)):
            return .object(p.reduce(into: [:]) { out, kv in out[kv.key] = e[kv.key].map { merged(kv.value, $0) } ?? kv.value })
        default:
            return plain
        }
    }

    /// True when some string in the value holds a byte that is not UTF-8.
    var holdsByteEscapes: Bool {
        switch self {
        case .string(let s): ByteText.hasEscapes(s)
        case .array(let a): a.contains { $0.holdsByteEscapes }
        case .object(let o): o.values.contains { $0.holdsByteEscapes }
        default: false
        }
    }

    /// The same shape, strings through `string`, other leaves through `other`.
    func mapStrings(_ string: (String) -> JSONValue, other: (JSONValue) -> JSONValue) -> JSONValue {
        switch self {
        case .string(let s): string(s)
        case .array(let a): .array(a.map { $0.mapStrings(string, other: other) })
        case .object(let o): .object(o.mapValues { $0.mapStrings(string, other: other) })
        default: other(self)
        }
    }

    static func decodedList(_ v: JSONValue?) -> [String]? {
        guard let a = v?.array else { return nil }
        var out = [String]()
        out.reserveCapacity(a.count)
        for e in a {
            guard let b = e.string.flatMap(Base64.decode) else { return nil }
            out.append(ByteText.decode(b))
        }
        return out
    }
}
