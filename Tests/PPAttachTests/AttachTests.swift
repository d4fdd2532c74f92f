import Foundation
import PPJSON
import PPKit
import PPSource
import Testing

@testable import PPAttach

private func tempSocket() -> (dir: String, path: String) {
    let d = NSTemporaryDirectory() + "/ppattach-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.createDirectory(
        atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
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
            .removeEngine(3), .stop, .failureGroups, .setExcluded(2, true),
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

    @Test("triage and exclusion over the socket: the groups the serving ppdash made, x acting on its scheduler")
    func triageAndExclusion() throws {
        let (dir, path) = tempSocket()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let client = Client(engines: 2)
        defer { client.shutdown() }
        let ar = try client.loadBalancedView().submit(Sweep.parse(line: "echo oops-{} >&2; exit {} ::: 3 3 4 0"))
        #expect(ar.wait(timeout: 30))
        let server = try StateServer(
            path: path, source: LocalSource(client: client), info: ServerInfo(journal: "j", ppdash: "t"), note: { _ in })
        defer { server.stop() }
        let viewer = try AttachConnection.connect(path)
        #expect(viewer.request(.hello(version: attachProtocolVersion))?.server != nil)
        let groups = try #require(viewer.request(.failureGroups)?.failureGroups)
        #expect(groups.map(\.count) == [2, 1])
        #expect(groups.first?.exitStatus == 3 && groups.first?.firstLine == "oops-3")
        #expect(viewer.request(.setExcluded(1, true))?.error == nil)
        #expect(client.scheduler.read(batchLimit: 0).engines[1].excluded)
        #expect(viewer.request(.setExcluded(1, false))?.error == nil)
        #expect(!client.scheduler.read(batchLimit: 0).engines[1].excluded)
        #expect(viewer.request(.setExcluded(42, true))?.error != nil, "an unknown engine is an error, not a silent no-op")
        // A windowed snapshot travels whole: its rows, where they start, and the counts of all engines.
        var q = TableQuery()
        q.engineOffset = 1
        q.engineLimit = 1
        let s = try #require(viewer.request(.snapshot(q))?.snapshot)
        #expect(s.engines.map(\.id) == [1] && s.engineFirst == 1 && s.engineCount == 2 && s.engineCounts.idle == 2)
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

    /// Waits up to `timeout` for `condition`, polling every 20 ms.
    private func waitFor(_ timeout: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() > end { return false }
            usleep(20_000)
        }
        return true
    }

    @Test func seventeenIdleViewersDoNotKeepARealOneOut() throws {
        let (dir, path) = tempSocket()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let client = Client(engines: 1)
        defer { client.shutdown() }
        let server = try StateServer(
            path: path, source: LocalSource(client: client), info: ServerInfo(journal: "j", ppdash: "t"),
            evictAfter: .milliseconds(300), note: { _ in })
        defer { server.stop() }
        // 16 that said hello and 1 that said nothing: all idle from now on.
        var idle: [AttachConnection] = []
        for _ in 0..<StateServer.maxViewers {
            let c = try AttachConnection.connect(path)
            #expect(c.request(.hello(version: attachProtocolVersion))?.server != nil)
            idle.append(c)
        }
        idle.append(try AttachConnection.connect(path))
        #expect(waitFor(5) { server.viewerCount == StateServer.maxViewers })
        usleep(400_000)  // past evictAfter
        let real = try AttachConnection.connect(path)
        let hello = real.request(.hello(version: attachProtocolVersion))
        #expect(hello?.server?.pid == getpid() && hello?.error == nil, "\(String(describing: hello))")
        #expect(real.request(.snapshot(TableQuery()))?.snapshot != nil, "the real viewer is served")
        #expect(server.viewerCount <= StateServer.maxViewers)
        for c in idle { c.close() }
    }

    @Test func idleViewersAreDropped() throws {
        let (dir, path) = tempSocket()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let client = Client(engines: 1)
        defer { client.shutdown() }
        let server = try StateServer(
            path: path, source: LocalSource(client: client), info: ServerInfo(journal: "j", ppdash: "t"),
            idleLimit: .milliseconds(500), note: { _ in })
        defer { server.stop() }
        let active = try AttachConnection.connect(path)
        let quiet = try AttachConnection.connect(path)
        #expect(quiet.request(.hello(version: attachProtocolVersion))?.server != nil)
        #expect(waitFor(5) { server.viewerCount == 2 })
        // The active one asks every 100 ms; the quiet one nothing: only it is dropped (the sweep runs every 1 s).
        var stillServed = true
        let end = Date().addingTimeInterval(3)
        while Date() < end && server.viewerCount > 1 {
            stillServed = stillServed && active.request(.snapshot(TableQuery(limit: 0))) != nil
            usleep(100_000)
        }
        #expect(server.viewerCount == 1, "the idle viewer was dropped")
        #expect(stillServed, "the active viewer was served all along")
        #expect(quiet.request(.snapshot(TableQuery())) == nil, "the dropped viewer's connection is closed")
    }

    @Test func socketDirectoryIsChecked() throws {
        let base = NSTemporaryDirectory() + "/ppattach-dir-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: base) }
        let priv = base + "/" + SocketDirectory.privateName
        try FileManager.default.createDirectory(atPath: priv, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        #expect(SocketDirectory.problem(with: priv)?.contains("0700") == true, "a private socket dir open to others is refused")
        let client = Client(engines: 1)
        defer { client.shutdown() }
        let e = #expect(throws: UnixSocket.Failure.self) {
            _ = try StateServer(
                path: priv + "/s.sock", source: LocalSource(client: client), info: ServerInfo(journal: "j", ppdash: "t"),
                note: { _ in })
        }
        #expect(e?.description.contains("0700") == true, "\(String(describing: e))")
        chmod(priv, 0o700)
        #expect(SocketDirectory.problem(with: priv) == nil)
        // A symlink to a good directory is refused; so is a file.
        let link = base + "/link"
        symlink(priv, link)
        #expect(SocketDirectory.problem(with: link)?.contains("symbolic link") == true)
        _ = FileManager.default.createFile(atPath: base + "/f", contents: Data())
        #expect(SocketDirectory.problem(with: base + "/f")?.contains("not a directory") == true)
        // A journal's directory others can write to (not sticky) is refused; a sticky one (/tmp) is not.
        let open = base + "/open"
        try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: false)
        chmod(open, 0o777)
        #expect(SocketDirectory.problem(with: open)?.contains("written by others") == true)
        chmod(open, 0o1777)
        #expect(SocketDirectory.problem(with: open) == nil)
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to make a directory and a socket owned by another user: skipped"))
    func anotherUsersDirectoryOrServerIsRefused() throws {
        let base = NSTemporaryDirectory() + "/ppattach-own-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: base) }
        let other: uid_t = 54_321
        // ppdash's private directory, made first by another user.
        let priv = base + "/" + SocketDirectory.privateName
        mkdir(priv, 0o700)
        chown(priv, other, other)
        #expect(SocketDirectory.problem(with: priv)?.contains("belongs to uid \(other)") == true)
        #expect(throws: UnixSocket.Failure.self) { _ = try AttachConnection.connect(priv + "/s.sock") }

        // A server run by another user behind a socket file that looks like ours: SO_PEERCRED tells.
        let dir = base + "/d"
        mkdir(dir, 0o1777)
        chmod(dir, 0o1777)
        let sock = dir + "/s.sock"
        // It says when it listens (the socket file exists from bind, a moment before: a connect then is refused).
        let script = "import socket,time\ns=socket.socket(socket.AF_UNIX)\ns.bind('\(sock)')\ns.listen(4)\nopen('\(dir)/ready','w').close()\ntime.sleep(20)"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        p.arguments = ["--reuid=\(other)", "--regid=\(other)", "--clear-groups", "/usr/bin/python3", "-c", script]
        try p.run()
        defer { p.terminate() }
        #expect(waitFor(10) { FileManager.default.fileExists(atPath: dir + "/ready") }, "the other user's server listens")
        // Its file made to look like ours: only the peer's credentials give it away.
        chown(sock, geteuid(), getegid())
        let e = #expect(throws: UnixSocket.Failure.self) { _ = try AttachConnection.connect(sock) }
        #expect(e?.description.contains("served by uid \(other)") == true, "\(String(describing: e))")
    }
}
