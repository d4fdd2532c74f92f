import Foundation
import PPAttach
import PPKit
import PPSource
import Testing

@testable import PPJournal

private func privateDir() -> String {
    let d = NSTemporaryDirectory() + "/ppjournal-trouble-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    return d
}

@Suite("an attached view and its connection's trouble", .serialized)
struct SocketTroubleTests {
    @Test func aLiveBatchIsNeverShownEndedBecauseTheConnectionFailed() throws {
        let dir = privateDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let client = Client(engines: 1)
        defer { client.shutdown() }
        let path = dir + "/s.sock"
        var server: StateServer? = try StateServer(
            path: path, source: LocalSource(client: client), info: ServerInfo(journal: dir + "/j", ppdash: "t"), note: { _ in })
        let view = try SocketSource(socket: path, journal: dir + "/j")
        #expect(view.snapshot(TableQuery()).source.hasPrefix("attached"))
        // The socket goes away while its ppdash (this process) still runs: trouble, not "ended".
        server?.stop()
        server = nil
        let s = view.snapshot(TableQuery())
        #expect(s.source.contains("cannot connect") && !s.source.contains("ended"), "\(s.source)")
        #expect(!view.isReadOnly)
        #expect(throws: PPError.self) { _ = try view.submit(line: "true ::: 1") }
        // It comes back: the view reconnects by itself (at most a second later).
        server = try StateServer(
            path: path, source: LocalSource(client: client), info: ServerInfo(journal: dir + "/j", ppdash: "t"), note: { _ in })
        defer { server?.stop() }
        let end = Date().addingTimeInterval(5)
        while !view.snapshot(TableQuery()).source.hasPrefix("attached") && Date() < end { usleep(100_000) }
        #expect(view.snapshot(TableQuery()).source.hasPrefix("attached"), "reconnected")
        #expect(view.trouble == nil)
    }

    @Test func aViewThatCouldNotConnectSaysWhyAndConnectsLater() throws {
        let dir = privateDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/s.sock"
        let view = SocketSource(unreachable: path, journal: dir + "/j", pid: getpid(), why: "too many viewers attached")
        let s = view.snapshot(TableQuery())
        #expect(s.source.contains("cannot connect") && s.source.contains("pid \(getpid()) runs"), "\(s.source)")
        let client = Client(engines: 1)
        defer { client.shutdown() }
        let server = try StateServer(
            path: path, source: LocalSource(client: client), info: ServerInfo(journal: dir + "/j", ppdash: "t"), note: { _ in })
        defer { server.stop() }
        let end = Date().addingTimeInterval(5)
        while !view.snapshot(TableQuery()).source.hasPrefix("attached") && Date() < end { usleep(100_000) }
        #expect(view.snapshot(TableQuery()).source.hasPrefix("attached"))
    }
}
