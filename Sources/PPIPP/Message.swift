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
            do { json.append(try JSON.parse(p)) } catch { throw MessageError.badJSON(error.description) }
        }
        return JupyterMessage(
            idents: Array(frames[..<d]), header: json[0], parent: json[1], metadata: json[2], content: json[3],
            buffers: Array(frames[(d + 6)...]))
    }
}

/// ISO 8601 dates as ipyparallel writes them (`2026-11-29T10:12:20.123456Z`, `+00:00`, a space, or no fraction).
public enum ISODate {
    public static func parse(_ s: String) -> Timestamp? {
        let b = Array(s.utf8)
        func num(_ from: Int, _ n: Int) -> Int? {
            guard from + n <= b.count else { return nil }
            var v = 0
            for k in from..<(from + n) {
                let c = b[k]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            return v
        }
        guard b.count >= 19, let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2),
            let mi = num(14, 2), let sec = num(17, 2)
        else { return nil }
        var i = 19
        var micros = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 {
                if digits < 6 {
                    micros = micros * 10 + Int(b[i] - 0x30)
                    digits += 1
                }
                i += 1
            }
            while digits < 6 {
                micros *= 10
                digits += 1
            }
        }
        var offset = 0
        if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            guard let oh = num(i + 1, 2) else { return nil }
            let om = num(i + 4, 2) ?? num(i + 3, 2) ?? 0
            offset = sign * (oh * 3600 + om * 60)
        }
        let days = daysFromCivil(y, mo, d)
        let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset
        return Timestamp(microseconds: Int64(secs) * 1_000_000 + Int64(micros))
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
