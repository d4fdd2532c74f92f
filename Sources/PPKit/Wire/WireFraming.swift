import NIOCore

/// Why a peer's bytes were refused, or why a link failed.
public struct WireError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public var description: String { name }
        /// A frame announced more bytes than the limit.
        public static let frameTooLarge = Code(name: "frameTooLarge")
        /// A frame of a protocol version this build does not speak.
        public static let unsupportedVersion = Code(name: "unsupportedVersion")
        /// Bytes that are not a well-formed message.
        public static let malformed = Code(name: "malformed")
        /// A well-formed message where the protocol does not allow it.
        public static let unexpected = Code(name: "unexpected")
        /// The token proof did not match, or none came in time.
        public static let handshake = Code(name: "handshake")
    }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

/// Splits a byte stream into messages: u32 big-endian length, then that many bytes of payload.
///
/// The length is checked against `limit` as soon as its 4 bytes arrive, before anything is buffered for it
/// (NIOExtras' `LengthFieldBasedFrameDecoder` has no limit of its own, so the framing is done here).
public struct FrameParser: Sendable {
    /// The largest payload accepted.
    public var limit: Int

    public init(limit: Int = WireProtocol.maxFrame) { self.limit = limit }

    /// The next whole message in `buffer` (consumed), nil if more bytes are needed; throws on refused bytes.
    public func next(_ buffer: inout ByteBuffer) throws(WireError) -> WireMessage? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard Int(length) <= limit else {
            throw WireError(.frameTooLarge, "a frame of \(length) bytes (the limit is \(limit))")
        }
        guard length >= 2 else { throw WireError(.malformed, "a frame of \(length) bytes is too short for a message") }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        var payload = buffer.readSlice(length: Int(length))!
        return try WireMessage.decode(payload: &payload)
    }
}

/// The NIO face of `FrameParser`: ByteBuffers in, `WireMessage`s out; refused bytes become an error.
final class WireFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = WireMessage
    var parser: FrameParser

    init(limit: Int) { parser = FrameParser(limit: limit) }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let message = try parser.next(&buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(message))
        return .continue
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        // A torn last frame at EOF is not an error worth reporting: the link is gone anyway.
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}
