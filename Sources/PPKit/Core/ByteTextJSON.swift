// How JSON carries text that may hold bytes that are not UTF-8 (arguments, commands, templates): see ByteText.
import PPJSON
import PPSystem

/// Writing: `KEY` is the text as a reader of text sees it (U+FFFD where a byte is not UTF-8), and only when some
/// byte is not UTF-8, `KEY_base64` right after it holds the exact bytes (standard base64). For a list, `KEY_base64`
/// is a list of the same length with every element's bytes (so element i is always argument i), for a list of
/// groups, a list of such lists. Reading: `KEY_base64` wins when present and well formed, else `KEY`.
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
        add(k, v.map { $0.map(ByteText.lossy) })
        add(k + "_base64", v.map { $0.map { Base64.encode(ByteText.bytes(of: $0)) } })
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

    /// A list of groups of texts, exact from `KEY_base64` when that has the same shape.
    public func bytesTextGroups(_ k: String) -> [[String]]? {
        if let outer = self[k + "_base64"]?.array, let plain = self[k]?.array, outer.count == plain.count {
            let groups = outer.map(Self.decodedList)
            if groups.allSatisfy({ $0 != nil }),
                zip(groups, plain).allSatisfy({ $0!.count == $1.array?.count })
            {
                return groups.map { $0! }
            }
        }
        return self[k]?.array?.map { $0.array?.compactMap(\.string) ?? [] }
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
