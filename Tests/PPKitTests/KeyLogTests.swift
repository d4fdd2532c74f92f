import Testing

@testable import PPKit

@Suite("the task-key change log")
struct KeyLogTests {
    @Test("a reader keeping up keeps it on: what was read goes when it is full")
    func readerKeepsUp() {
        var log = KeyLog()
        log.on = true
        for i in 0..<KeyLog.limit { log.append(Int32(i % 7)) }
        log.readUpTo = log.end - 10
        log.append(1)
        #expect(log.on, "a reader 10 entries behind: logging goes on")
        #expect(log.entries.count == 11)
        #expect(log.end == UInt64(KeyLog.limit) + 1, "positions keep counting from the start")
    }

    @Test("nobody reading: it stops rather than grow")
    func nobodyReads() {
        var log = KeyLog()
        log.on = true
        for i in 0...KeyLog.limit { log.append(Int32(i % 7)) }
        #expect(!log.on)
        #expect(log.entries.isEmpty)
    }
}
