import NIOCore
import NIOEmbedded
import Testing

@testable import PPKit

@Suite("wire outbox")
struct WireOutboxTests {
    @Test("frames wait while the channel is not writable and go out, coalesced and in order, when it is again")
    func honoursWritability() throws {
        let channel = EmbeddedChannel()
        let outbox = WireOutbox(channel: channel)
        channel.embeddedEventLoop.run()
        channel.isWritable = false
        outbox.send(.heartbeat)
        outbox.send(.cancel(task: 7, reason: .aborted))
        channel.embeddedEventLoop.run()
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        channel.embeddedEventLoop.run()
        var expected = ByteBuffer()
        WireMessage.heartbeat.encode(into: &expected)
        WireMessage.cancel(task: 7, reason: .aborted).encode(into: &expected)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == expected)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        // Writable from the start: one write per event-loop turn.
        outbox.send(.heartbeat)
        channel.embeddedEventLoop.run()
        #expect(try channel.readOutbound(as: ByteBuffer.self)?.readableBytes ?? 0 > 0)
    }
}
