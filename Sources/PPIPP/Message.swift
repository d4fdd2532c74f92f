import Crypto
import Foundation
import PPKit

/// One Jupyter message as ipyparallel sends it: `[idents…, "<IDS|MSG>", sig, header, parent, metadata, content, buffers…]`.
public struct JupyterMessage: Sendable {
    public var idents: [[UInt8]]
    public var header: JSON
    public var parent: JSON
    public var metadata: JSON
    public var content: JSON
    public var buffers: [[UInt8]]

    public init(
        idents: [[UInt8]] = [], header: JSON, parent: JSON = [:], metadata: JSON = [:], content: JSON = [:],
        buffers: [[UInt8]] = []
    ) {
        self.idents = idents
        self.header = header
        self.parent = parent
        self.metadata = metadata
        self.content = content
        self.buffers = buffers
    }

    public var msgType: String { header["msg_type"]?.string ?? "" }
    public var msgId: String { header["msg_id"]?.string ?? "" }
    /// The msg_id of the request this message answers (or the task an IOPub message is about).
    public var parentId: String? { parent["msg_id"]?.string }
}

/// Why a received message was refused.
public enum MessageError: Error, Equatable, CustomStringConvertible, Sendable {
    case noDelimiter
    case tooFewFrames(Int)
    case signatureMismatch
    case badJSON(String)

    public var description: String {
        switch self {
        case .noDelimiter: "message without the <IDS|MSG> delimiter"
        case .tooFewFrames(let n): "message with \(n) frames after the delimiter (at least 5 expected)"
        case .signatureMismatch: "signature mismatch: the message was not signed with this connection file's key"
        case .badJSON(let why): "message part is not JSON: \(why)"
        }
    }
}

/// HMAC-SHA256 signing of the four JSON parts; an empty key signs nothing (ipyparallel's `Session(key=b'')`).
public struct MessageSigner: Sendable {
    private let key: [UInt8]

    public init(key: String) { self.key = Array(key.utf8) }

    /// Lowercase hex HMAC of the concatenated parts.
    public func signature(_ parts: [[UInt8]]) -> String {
        guard !key.isEmpty else { return "" }
        var mac = HMAC<SHA256>(key: SymmetricKey(data: key))
        for p in parts { mac.update(data: p) }
        return Self.hex(Array(mac.finalize()))
    }

    /// Whether `sig` signs `parts`, compared in constant time.
    public func verify(_ sig: [UInt8], _ parts: [[UInt8]]) -> Bool {
        let expected = Array(signature(parts).utf8)
        guard expected.count == sig.count else { return false }
        var diff: UInt8 = 0
        for (a, b) in zip(expected, sig) { diff |= a ^ b }
        return diff == 0
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A client session: its id, message counter and signer; builds and checks wire frames.
public struct JupyterSession: Sendable {
    public static let delimiter = Array("<IDS|MSG>".utf8)
    public let id: String
    public let username: String
    public let signer: MessageSigner
    private var counter = 0
    private let pid = Int(getpid())

    public init(key: String, id: String = JupyterSession.newId(), username: String = "ppdash") {
        self.id = id
        self.username = username
        self.signer = MessageSigner(key: key)
    }

    /// A fresh id in ipyparallel's style: `xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx`.
    public static func newId() -> String {
        let hex = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        return String(hex.prefix(8)) + "-" + String(hex.dropFirst(8).prefix(24))
    }

    /// A new header for `msgType`.
    public mutating func header(_ msgType: String, date: Timestamp = SystemClock().now()) -> JSON {
        counter += 1
        return [
            "msg_id": .string("\(id)_\(pid)_\(counter)"), "msg_type": .string(msgType),
            "username": .string(username), "session": .string(id), "date": .string(date.iso8601), "version": "5.4",
        ]
    }

    /// A request message with a new header.
    public mutating func message(
        _ msgType: String, content: JSON = [:], metadata: JSON = [:], buffers: [[UInt8]] = [], idents: [[UInt8]] = []
    ) -> JupyterMessage {
        JupyterMessage(
            idents: idents, header: header(msgType), parent: [:], metadata: metadata, content: content, buffers: buffers)
    }

    /// The frames to send.
    public func serialize(_ m: JupyterMessage) -> [[UInt8]] {
        let parts = [m.header.bytes, m.parent.bytes, m.metadata.bytes, m.content.bytes]
        return m.idents + [Self.delimiter, Array(signer.signature(parts).utf8)] + parts + m.buffers
    }

    /// Checks the signature and parses the frames of a received message.
    public func deserialize(_ frames: [[UInt8]]) throws(MessageError) -> JupyterMessage {
        guard let d = frames.firstIndex(of: Self.delimiter) else { throw MessageError.noDelimiter }
        let rest = frames.count - d - 1
        guard rest >= 5 else { throw MessageError.tooFewFrames(rest) }
        let sig = frames[d + 1]
        let parts = Array(frames[(d + 2)..<(d + 6)])
        guard signer.verify(sig, parts) else { throw MessageError.signatureMismatch }
        var json: [JSON] = []
        for p in parts {
            do { json.append(try JSON.parse(p, allowNonFinite: true)) } catch { throw MessageError.badJSON(error.description) }
        }
        return JupyterMessage(
            idents: Array(frames[..<d]), header: json[0], parent: json[1], metadata: json[2], content: json[3],
            buffers: Array(frames[(d + 6)...]))
    }
}

/// ISO 8601 dates as ipyparallel writes them (`2026-11-29T10:12:20.123456Z`, `+00:00`, a space, or no fraction):
/// the JSON layer's one parser.
public enum ISODate {
    public static func parse(_ s: String) -> Timestamp? { Timestamp(iso8601: s) }
}
