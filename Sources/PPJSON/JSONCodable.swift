// Codable types to and from JSON, by Foundation's coders configured here once: the attach protocol's messages
// (snapshots, task metadata) use it.
import Foundation

/// Encodes an `Encodable` value as compact JSON, keys sorted, `/` unescaped. Doubles that JSON cannot hold are
/// written as the strings `"inf"`, `"-inf"` and `"nan"` (and read back by `JSONDecoding`).
public enum JSONEncoding {
    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }()

    public static func value<T: Encodable>(_ v: T) throws -> JSONValue {
        try JSONValue.parse(Array(encoder.encode(v)))
    }
    /// The value as compact JSON text appended to `out`.
    public static func write<T: Encodable>(_ v: T, to out: inout [UInt8]) throws {
        out.append(contentsOf: try encoder.encode(v))
    }
}

/// Decodes a `Decodable` value from JSON (the inverse of `JSONEncoding`).
public enum JSONDecoding {
    private static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }()

    public static func decode<T: Decodable>(_ type: T.Type, from v: JSONValue) throws -> T {
        try decode(type, from: v.bytes)
    }
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try decoder.decode(type, from: Data(bytes))
    }
}
