// Codable types to and from JSONValue: the attach protocol's messages (snapshots, task metadata) use it.

/// Encodes an `Encodable` value as JSON. Doubles that JSON cannot hold are written as the strings `"inf"`,
/// `"-inf"` and `"nan"` (and read back by `JSONDecoding`).
public enum JSONEncoding {
    public static func value<T: Encodable>(_ v: T) throws -> JSONValue {
        let root = Node()
        try v.encode(to: NodeEncoder(node: root, codingPath: []))
        return root.resolve()
    }
    /// The value as compact JSON text appended to `out`.
    public static func write<T: Encodable>(_ v: T, to out: inout [UInt8]) throws {
        try value(v).write(to: &out)
    }

    static func number(_ d: Double) -> JSONValue {
        if d.isFinite { return .number(d) }
        return .string(d.isNaN ? "nan" : d > 0 ? "inf" : "-inf")
    }

    /// A value under construction: a leaf, or an object or array whose members may still be filled in.
    final class Node {
        var leaf: JSONValue?
        var members: [String: Node]?
        var elements: [Node]?
        init(_ leaf: JSONValue? = nil) { self.leaf = leaf }
        func resolve() -> JSONValue {
            if let members { return .object(members.mapValues { $0.resolve() }) }
            if let elements { return .array(elements.map { $0.resolve() }) }
            return leaf ?? .object([:])
        }
    }

    struct NodeEncoder: Encoder {
        let node: Node
        var codingPath: [any CodingKey]
        var userInfo: [CodingUserInfoKey: Any] { [:] }
        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            if node.members == nil { node.members = [:] }
            return KeyedEncodingContainer(Keyed<Key>(node: node, codingPath: codingPath))
        }
        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            if node.elements == nil { node.elements = [] }
            return Unkeyed(node: node, codingPath: codingPath)
        }
        func singleValueContainer() -> any SingleValueEncodingContainer { Single(node: node, codingPath: codingPath) }
    }

    static func encode<T: Encodable>(_ v: T, path: [any CodingKey]) throws -> Node {
        switch v {
        case let s as String: return Node(.string(s))
        case let d as Double: return Node(number(d))
        case let f as Float: return Node(number(Double(f)))
        case let b as Bool: return Node(.bool(b))
        case let i as any BinaryInteger:
            guard let x = Int64(exactly: i) else {
                throw EncodingError.invalidValue(v, .init(codingPath: path, debugDescription: "beyond Int64"))
            }
            return Node(.integer(x))
        default:
            let n = Node()
            try v.encode(to: NodeEncoder(node: n, codingPath: path))
            return n
        }
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let node: Node
        var codingPath: [any CodingKey]
        mutating func encodeNil(forKey key: Key) throws { node.members![key.stringValue] = Node(.null) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            node.members![key.stringValue] = try JSONEncoding.encode(value, path: codingPath + [key])
        }
        mutating func nestedContainer<N: CodingKey>(keyedBy: N.Type, forKey key: Key) -> KeyedEncodingContainer<N> {
            let n = Node()
            n.members = [:]
            node.members![key.stringValue] = n
            return KeyedEncodingContainer(Keyed<N>(node: n, codingPath: codingPath + [key]))
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            let n = Node()
            n.elements = []
            node.members![key.stringValue] = n
            return Unkeyed(node: n, codingPath: codingPath + [key])
        }
        mutating func superEncoder() -> any Encoder { superEncoder(name: "super") }
        mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(name: key.stringValue) }
        private func superEncoder(name: String) -> any Encoder {
            let n = Node()
            node.members![name] = n
            return NodeEncoder(node: n, codingPath: codingPath)
        }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let node: Node
        var codingPath: [any CodingKey]
        var count: Int { node.elements!.count }
        mutating func encodeNil() throws { node.elements!.append(Node(.null)) }
        mutating func encode<T: Encodable>(_ value: T) throws {
            node.elements!.append(try JSONEncoding.encode(value, path: codingPath))
        }
        mutating func nestedContainer<N: CodingKey>(keyedBy: N.Type) -> KeyedEncodingContainer<N> {
            let n = Node()
            n.members = [:]
            node.elements!.append(n)
            return KeyedEncodingContainer(Keyed<N>(node: n, codingPath: codingPath))
        }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            let n = Node()
            n.elements = []
            node.elements!.append(n)
            return Unkeyed(node: n, codingPath: codingPath)
        }
        mutating func superEncoder() -> any Encoder {
            let n = Node()
            node.elements!.append(n)
            return NodeEncoder(node: n, codingPath: codingPath)
        }
    }

    struct Single: SingleValueEncodingContainer {
        let node: Node
        var codingPath: [any CodingKey]
        mutating func encodeNil() throws { node.leaf = .null }
        mutating func encode<T: Encodable>(_ value: T) throws {
            let n = try JSONEncoding.encode(value, path: codingPath)
            node.leaf = n.leaf
            node.members = n.members
            node.elements = n.elements
        }
    }
}

/// Decodes a `Decodable` value from JSON (the inverse of `JSONEncoding`).
public enum JSONDecoding {
    public static func decode<T: Decodable>(_ type: T.Type, from v: JSONValue) throws -> T {
        try T(from: ValueDecoder(value: v, codingPath: []))
    }
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try decode(type, from: try JSONValue.parse(bytes))
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int?
        init(stringValue: String) { self.stringValue = stringValue }
        init(intValue: Int) {
            stringValue = String(intValue)
            self.intValue = intValue
        }
    }

    static func mismatch(_ type: Any.Type, _ path: [any CodingKey], _ v: JSONValue) -> DecodingError {
        .typeMismatch(type, .init(codingPath: path, debugDescription: "found \(v.text)"))
    }

    static func decode<T: Decodable>(_ type: T.Type, _ v: JSONValue, path: [any CodingKey]) throws -> T {
        if T.self == String.self {
            guard let s = v.string else { throw mismatch(T.self, path, v) }
            return s as! T
        }
        if T.self == Bool.self {
            guard let b = v.bool else { throw mismatch(T.self, path, v) }
            return b as! T
        }
        if T.self == Double.self || T.self == Float.self {
            let d: Double
            switch v {
            case .string("inf"): d = .infinity
            case .string("-inf"): d = -.infinity
            case .string("nan"): d = .nan
            default:
                guard let x = v.double else { throw mismatch(T.self, path, v) }
                d = x
            }
            return (T.self == Double.self ? d as Any : Float(d) as Any) as! T
        }
        if let intType = T.self as? any FixedWidthInteger.Type {
            let exact: (any FixedWidthInteger)?
            switch v {
            case .integer(let i): exact = intType.init(exactly: i)
            case .number(let d) where d == d.rounded(): exact = intType.init(exactly: d)
            default: throw mismatch(T.self, path, v)
            }
            guard let exact else {
                throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "\(v.text) does not fit"))
            }
            return exact as! T
        }
        return try T(from: ValueDecoder(value: v, codingPath: path))
    }

    struct ValueDecoder: Decoder {
        let value: JSONValue
        var codingPath: [any CodingKey]
        var userInfo: [CodingUserInfoKey: Any] { [:] }
        func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
            guard let o = value.object else { throw mismatch([String: JSONValue].self, codingPath, value) }
            return KeyedDecodingContainer(Keyed<Key>(object: o, codingPath: codingPath))
        }
        func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
            guard let a = value.array else { throw mismatch([JSONValue].self, codingPath, value) }
            return Unkeyed(array: a, codingPath: codingPath)
        }
        func singleValueContainer() throws -> any SingleValueDecodingContainer {
            Single(value: value, codingPath: codingPath)
        }
    }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let object: [String: JSONValue]
        var codingPath: [any CodingKey]
        var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }
        func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }
        func member(_ key: Key) throws -> JSONValue {
            guard let v = object[key.stringValue] else {
                throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing"))
            }
            return v
        }
        func decodeNil(forKey key: Key) throws -> Bool { try member(key).isNull }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try JSONDecoding.decode(type, try member(key), path: codingPath + [key])
        }
        func nestedContainer<N: CodingKey>(keyedBy type: N.Type, forKey key: Key) throws -> KeyedDecodingContainer<N> {
            try ValueDecoder(value: try member(key), codingPath: codingPath + [key]).container(keyedBy: type)
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try ValueDecoder(value: try member(key), codingPath: codingPath + [key]).unkeyedContainer()
        }
        func superDecoder() throws -> any Decoder {
            ValueDecoder(value: object["super"] ?? .null, codingPath: codingPath)
        }
        func superDecoder(forKey key: Key) throws -> any Decoder {
            ValueDecoder(value: object[key.stringValue] ?? .null, codingPath: codingPath + [key])
        }
    }

    struct Unkeyed: UnkeyedDecodingContainer {
        let array: [JSONValue]
        var codingPath: [any CodingKey]
        var currentIndex = 0
        var count: Int? { array.count }
        var isAtEnd: Bool { currentIndex >= array.count }
        init(array: [JSONValue], codingPath: [any CodingKey]) {
            self.array = array
            self.codingPath = codingPath
        }
        mutating func next() throws -> JSONValue {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(
                    JSONValue.self, .init(codingPath: codingPath, debugDescription: "the array ended"))
            }
            currentIndex += 1
            return array[currentIndex - 1]
        }
        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd, array[currentIndex].isNull else { return false }
            currentIndex += 1
            return true
        }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            let path = codingPath + [AnyKey(intValue: currentIndex)]
            return try JSONDecoding.decode(type, try next(), path: path)
        }
        mutating func nestedContainer<N: CodingKey>(keyedBy type: N.Type) throws -> KeyedDecodingContainer<N> {
            try ValueDecoder(value: try next(), codingPath: codingPath).container(keyedBy: type)
        }
        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            try ValueDecoder(value: try next(), codingPath: codingPath).unkeyedContainer()
        }
        mutating func superDecoder() throws -> any Decoder { ValueDecoder(value: try next(), codingPath: codingPath) }
    }

    struct Single: SingleValueDecodingContainer {
        let value: JSONValue
        var codingPath: [any CodingKey]
        func decodeNil() -> Bool { value.isNull }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try JSONDecoding.decode(type, value, path: codingPath) }
    }
}
