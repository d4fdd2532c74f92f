import Foundation
import PPJSON
import PPKit
import PPSource
import Testing

@testable import PPAttach

private func tempSocket() -> (dir: String, path: String) {
    let d = NSTemporaryDirectory() + "/ppattach-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return (d, d + "/s.sock")
}

@Suite("Attach transport", .serialized)
struct AttachTransportTests {
    @Test func messagesKeepTheirWireForm() throws {
        #expect(String(decoding: encodeLine(AttachRequest.hello(version: 1)), as: UTF8.self) == "{\"hello\":{\"version\":1}}\n")
        #expect(String(decoding: encodeLine(AttachRequest.stop), as: UTF8.self) == "{\"stop\":{}}\n")
        #expect(decodeLine(AttachRequest.self, Array(#"{"setPaused":{"_0":true}}"#.utf8)) == .setPaused(true))
        #expect(decodeLine(AttachRequest.self, Array(#"{"removeEngine":{}}"#.utf8)) == .removeEngine(nil))
        let all: [AttachRequest] = [
            .hello(version: 3), .snapshot(TableQuery(limit: 7)), .metadata(TaskID(4)), .submit("echo {} ::: é\n"),
            .abortTask(TaskID(2)), .abortBatch(1), .retryTask(TaskID(9)), .retryFailed(2), .setPaused(false), .addEngine,
            .removeEngine(3), .stop,
        ]
        for r in all { #expect(decodeLine(AttachRequest.self, Array(encodeLine(r).dropLast())) == r, "\(r)") }
        let reply = AttachReply(error: nil, number: 5, server: ServerInfo(journal: "/j", ppdash: "t"))
        let back = try #require(decodeLine(AttachReply.self, Array(encodeLine(reply).dropLast())))
        #expect(back.number == 5 && back.server == reply.server && back.error == nil)
    }

    /// The messages read and write as Foundation's JSONEncoder/JSONDecoder did (the transport before PPJSON).
    @Test func snapshotsAndMetadataMatchFoundationsCoding() throws {
        let client = Client(engines: 2)
        defer { client.shutdown() }
        let ar = try client.loadBalancedView().submit(builtins: [.noop, .noop, .noop])
        #expect(ar.wait(timeout: 10))
        let source = LocalSource(client: client)
        var snapshot = source.snapshot(TableQuery())
        snapshot.rate = .infinity  // what JSON cannot hold travels as a string, both ways
        let reply = AttachReply(snapshot: snapshot, metadata: source.metadata(TaskID(2)), number: -1)
        let foundation = JSONEncoder()
        foundation.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let ours = try decoder.decode(AttachReply.self, from: Data(encodeLine(reply)))
        #expect(ours.snapshot == reply.snapshot && ours.metadata == reply.metadata && ours.number == -1)
        let theirs = try #require(decodeLine(AttachReply.self, Array(try foundation.encode(reply))))
        #expect(theirs.snapshot == reply.snapshot && theirs.metadata == reply.metadata && theirs.number == -1)
        let query = AttachRequest.snapshot(TableQuery(limit: 9))
        #expect(decodeLine(AttachRequest.self, Array(try foundation.encode(query))) == query)
    }

    @Test func oneTooManyViewersIsToldWhyAndABadRequestGetsAnError() throws {
        let (dir, path) = tempSocket()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let client = Client(engines: 1)
        defer { client.shutdown() }
        let server = try StateServer(
            path: path, source: LocalSource(client: client), info: ServerInfo(journal: "j", ppdash: "t"), note: { _ in })
        defer { server.stop() }
        var viewers: [AttachConnection] = []
        for _ in 0..<StateServer.maxViewers {
            let c = try AttachConnection.connect(path)
            #expect(c.request(.hello(version: attachProtocolVersion))?.server?.pid == getpid())
            viewers.append(c)
        }
        #expect(server.viewerCount == StateServer.maxViewers)
        let extra = try AttachConnection.connect(path)
        let refusal = extra.request(.hello(version: attachProtocolVersion))
        #expect(refusal?.error?.contains("too many viewers") == true, "\(String(describing: refusal))")
        // Garbage is answered with an error, and the viewer can go on asking.
        let garbage = viewers[0].call(Array("{\"no such\":1}\n".utf8)).flatMap { decodeLine(AttachReply.self, $0) }
        #expect(garbage?.error?.contains("not a request") == true)
        #expect(viewers[0].request(.snapshot(TableQuery()))?.snapshot != nil)
        // Another protocol version is refused with the reason.
        #expect(viewers[1].request(.hello(version: 99))?.error?.contains("attach protocol") == true)
        viewers.removeAll()
        let deadline = Date().addingTimeInterval(10)
        while server.viewerCount > 0 && Date() < deadline { usleep(10_000) }
        #expect(server.viewerCount == 0)
    }

    @Test func stopEndsViewersAndRemovesTheSocket() throws {
        let (dir, path) = tempSocket()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let client = Client(engines: 1)
        defer { client.shutdown() }
        let server = try StateServer(
            path: path, source: LocalSource(client: client), info: ServerInfo(journal: "j", ppdash: "t"), note: { _ in })
        let viewer = try AttachConnection.connect(path)
        #expect(viewer.request(.hello(version: attachProtocolVersion))?.server != nil)
        server.stop()
        server.stop()  // idempotent
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(viewer.request(.snapshot(TableQuery())) == nil)
        #expect(throws: UnixSocket.Failure.self) { _ = try AttachConnection.connect(path) }
        #expect(throws: UnixSocket.Failure.self) {
            _ = try StateServer(
                path: dir + "/" + String(repeating: "x", count: 120), source: LocalSource(client: client),
                info: ServerInfo(journal: "j", ppdash: "t"), note: { _ in })
        }
    }
}
