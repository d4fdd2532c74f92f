import Foundation
import PPKit
import Testing

@testable import PPIPP

@Suite("Jupyter messages")
struct MessageTests {
    @Test("HMAC-SHA256 signature matches the known value for the four parts")
    func knownSignature() {
        // Python: hmac.new(b"key", b'{"a":1}{}{}{}', hashlib.sha256).hexdigest()
        let s = MessageSigner(key: "key")
        let parts = [Array("{\"a\":1}".utf8), Array("{}".utf8), Array("{}".utf8), Array("{}".utf8)]
        #expect(s.signature(parts) == "f1128388193e4dd1aa760827bd756a1b40b627676b5efe22c0e8297919bfa218")
        #expect(s.verify(Array(s.signature(parts).utf8), parts))
        #expect(MessageSigner(key: "").signature(parts) == "")
    }

    @Test("serialize then deserialize round-trips and verifies; another key is a signature mismatch")
    func roundTrip() throws {
        var a = JupyterSession(key: "secret-1")
        let m = a.message(
            "db_request", content: HubQuery.request(["msg_id": ["$in": ["x"]]], keys: ["msg_id"]),
            buffers: [[1, 2, 3]], idents: [Array("engine-uuid".utf8)])
        let frames = a.serialize(m)
        #expect(frames[0] == Array("engine-uuid".utf8))
        #expect(frames[1] == JupyterSession.delimiter)
        #expect(frames.last == [1, 2, 3])
        let back = try a.deserialize(frames)
        #expect(back.msgType == "db_request")
        #expect(back.msgId == m.msgId)
        #expect(back.content == m.content)
        #expect(back.buffers == [[1, 2, 3]])
        #expect(back.idents == [Array("engine-uuid".utf8)])

        let b = JupyterSession(key: "secret-2")
        #expect(throws: MessageError.signatureMismatch) { try b.deserialize(frames) }
        var tampered = frames
        tampered[5] = Array("{\"x\":1}".utf8)
        #expect(throws: MessageError.signatureMismatch) { try a.deserialize(tampered) }
        #expect(throws: MessageError.noDelimiter) { try a.deserialize([[1], [2]]) }
    }

    @Test("headers carry a unique msg_id, the session and an ISO date")
    func headers() {
        var s = JupyterSession(key: "k")
        let h1 = s.header("apply_request")
        let h2 = s.header("apply_request")
        #expect(h1["msg_id"] != h2["msg_id"])
        #expect(h1["session"]?.string == s.id)
        #expect(h1["version"]?.string == "5.4")
        #expect(ISODate.parse(h1["date"]?.string ?? "") != nil)
    }

    @Test("ISO dates in the forms ipyparallel writes")
    func dates() {
        let t = ISODate.parse("2026-11-29T10:12:20.123456Z")
        #expect(t?.iso8601 == "2026-11-29T10:12:20.123456Z")
        #expect(ISODate.parse("2026-11-29 10:12:20.123456+00:00") == t)
        #expect(ISODate.parse("2026-11-29T11:12:20.123456+01:00") == t)
        #expect(ISODate.parse("2026-11-29T10:12:20Z")?.iso8601 == "2026-11-29T10:12:20.000000Z")
        #expect(ISODate.parse("2026-11-29T10:12:20.5Z")?.microseconds == Timestamp(seconds: 0).microseconds + ISODate.parse("2026-11-29T10:12:20Z")!.microseconds + 500_000)
        #expect(ISODate.parse("yesterday") == nil)
    }
}

@Suite("JSON")
struct JSONTests {
    @Test("parses and writes back")
    func roundTrip() throws {
        let text = #"{"a":[1,2.5,"x\n\"y\u00e9\ud83d\ude00"],"b":null,"c":true,"d":{"e":-3}}"#
        let v = try JSON.parse(text)
        #expect(v["a"]?.array?[0].int == 1)
        #expect(v["a"]?.array?[1].double == 2.5)
        #expect(v["a"]?.array?[2].string == "x\n\"yé😀")
        #expect(v["b"] == .null)
        #expect(v["d"]?["e"]?.int == -3)
        #expect(try JSON.parse(v.text) == v)
    }

    @Test("rejects broken text")
    func errors() {
        #expect(throws: JSONParseError.self) { try JSON.parse("{\"a\":}") }
        #expect(throws: JSONParseError.self) { try JSON.parse("[1,2") }
        #expect(throws: JSONParseError.self) { try JSON.parse("{} x") }
    }
}

@Suite("Hub queries")
struct HubQueryTests {
    @Test("never uses $gt (it acts as $lt on the hub); boundaries use $gte behind a null guard")
    func noGreaterThan() {
        let t = Timestamp(microseconds: 1_800_000_000_000_000)
        for q in [
            HubQuery.submitted(since: t), HubQuery.finished(since: t), HubQuery.finished(since: nil),
            HubQuery.records(["a", "b"]), HubQuery.waiting(since: t),
        ] {
            #expect(!q.text.contains("\"$gt\""))
        }
        #expect(HubQuery.finished(since: t).text == #"{"received":{"$ne":null,"$gte":"\#(t.iso8601)"}}"#)
        #expect(HubQuery.submitted(since: t).text == #"{"submitted":{"$ne":null,"$gte":"\#(t.iso8601)"}}"#)
        #expect(HubQuery.submitted(since: nil).text == "{}")
        #expect(HubQuery.waiting(since: nil).text == #"{"received":{"$eq":null}}"#)
        #expect(
            HubQuery.waiting(since: t).text
                == #"{"received":{"$eq":null},"submitted":{"$ne":null,"$gte":"\#(t.iso8601)"}}"#)
        #expect(HubQuery.records(["a"]).text == #"{"msg_id":{"$in":["a"]}}"#)
        #expect(
            HubQuery.request([:], keys: ["msg_id"]).text == #"{"keys":["msg_id"],"query":{}}"#)
        #expect(HubQuery.request([:], keys: nil).text == #"{"keys":null,"query":{}}"#)
    }

    @Test("$ne is written first in an operator object, whatever the other keys")
    func neFirst() {
        let q: JSON = ["completed": ["$lte": 1, "$gte": 0, "$ne": nil]]
        #expect(q.text == #"{"completed":{"$ne":null,"$gte":0,"$lte":1}}"#)
    }

    @Test("a db_reply's buffers are paired with their records")
    func buffersPairing() throws {
        let f = PickleWriter.dumps(.global(module: "subprocess", name: "run"))
        let call = ShellCall.buffers(command: "echo hi")
        let result = PickleWriter.dumps(.int(9))
        let content: JSON = [
            "status": "ok",
            "records": [
                ["msg_id": "m1", "submitted": "2026-11-29T10:00:00.000001Z", "client_uuid": "s1", "label": nil],
                [
                    "msg_id": "m2", "submitted": "2026-11-29T10:00:01Z", "received": "2026-11-29T10:00:02Z",
                    "result_content": ["status": "ok"],
                ],
            ],
            "buffer_lens": [.number(Double(call.count)), 1], "result_buffer_lens": [0, 1],
        ]
        let recs = HubRecord.parse(dbReply: content, buffers: call + [f, result])
        #expect(recs.count == 2)
        #expect(recs[0].call?.shellCommand == "echo hi")
        #expect(recs[0].session == "s1")
        #expect(recs[0].result == nil)
        #expect(recs[1].call?.function == "subprocess.run")
        #expect(recs[1].result == .int(9))
        #expect(recs[1].resultStatus == "ok")
        #expect(recs[1].received != nil)
    }
}

@Suite("Connection files")
struct ConnectionFileTests {
    static let sample = """
        {"ssh": "", "interface": "tcp://127.0.0.1", "registration": 34769, "control": 35211, "mux": 54435,
         "task": 40065, "task_scheme": "leastload", "iopub": 52249, "notification": 55717, "broadcast": 48973,
         "key": "e70a594f-5024f28ce4590c89ad8b4fa9", "curve_serverkey": null, "location": "vm", "pack": "json",
         "unpack": "json", "signature_scheme": "hmac-sha256"}
        """

    @Test("parses ports, key and scheme")
    func parse() throws {
        let c = try ConnectionInfo.parse(Array(Self.sample.utf8), path: "/x.json")
        #expect(c.controllerURL == "tcp://127.0.0.1:34769")
        #expect(c.url(c.task) == "tcp://127.0.0.1:40065")
        #expect(c.key == "e70a594f-5024f28ce4590c89ad8b4fa9")
        #expect(c.iopub == 52249 && c.notification == 55717 && c.control == 35211 && c.mux == 54435)
        #expect(c.ssh == nil)
    }

    @Test("refuses what ppdash cannot speak, saying why")
    func refusals() {
        let curve = Self.sample.replacingOccurrences(of: "\"curve_serverkey\": null", with: "\"curve_serverkey\": \"abc\"")
        #expect(throws: IPPError.self) { try ConnectionInfo.parse(Array(curve.utf8), path: "/x.json") }
        let md5 = Self.sample.replacingOccurrences(of: "hmac-sha256", with: "hmac-md5")
        #expect(throws: IPPError.self) { try ConnectionInfo.parse(Array(md5.utf8), path: "/x.json") }
        let noPort = Self.sample.replacingOccurrences(of: "\"task\": 40065,", with: "")
        #expect(throws: IPPError.self) { try ConnectionInfo.parse(Array(noPort.utf8), path: "/x.json") }
        #expect(throws: IPPError.self) { try ConnectionInfo.parse(Array("[1]".utf8), path: "/x.json") }
    }

    @Test("resolves profile, cluster id and path under IPYTHONDIR")
    func resolve() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ppipp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sec = dir + "/profile_default/security"
        try FileManager.default.createDirectory(atPath: sec, withIntermediateDirectories: true)
        let env = ["IPYTHONDIR": dir, "HOME": "/nonexistent"]
        #expect(throws: IPPError.self) { try ConnectionInfo.resolve(nil, clusterId: nil, environment: env) }
        try Self.sample.write(toFile: sec + "/ipcontroller-abc-client.json", atomically: true, encoding: .utf8)
        // A single cluster with an id is found without --cluster-id.
        #expect(try ConnectionInfo.resolve(nil, clusterId: nil, environment: env) == sec + "/ipcontroller-abc-client.json")
        #expect(try ConnectionInfo.resolve("default", clusterId: "abc", environment: env) == sec + "/ipcontroller-abc-client.json")
        do {
            _ = try ConnectionInfo.resolve(nil, clusterId: "zzz", environment: env)
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("--cluster-id abc"))
        }
        try Self.sample.write(toFile: sec + "/ipcontroller-client.json", atomically: true, encoding: .utf8)
        #expect(try ConnectionInfo.resolve(nil, clusterId: nil, environment: env) == sec + "/ipcontroller-client.json")
        #expect(try ConnectionInfo.resolve(sec + "/ipcontroller-client.json", clusterId: nil, environment: env) == sec + "/ipcontroller-client.json")
        #expect(throws: IPPError.self) { try ConnectionInfo.resolve("/no/such/file.json", clusterId: nil, environment: env) }
        let other = ["HOME": dir + "/home"]
        try FileManager.default.createDirectory(atPath: dir + "/home/.ipython/profile_p2/security", withIntermediateDirectories: true)
        try Self.sample.write(toFile: dir + "/home/.ipython/profile_p2/security/ipcontroller-client.json", atomically: true, encoding: .utf8)
        #expect(try ConnectionInfo.resolve("p2", clusterId: nil, environment: other).hasSuffix("/profile_p2/security/ipcontroller-client.json"))
    }
}

@Suite("libzmq loading")
struct ZMQLoadingTests {
    @Test("PPDASH_LIBZMQ comes first, then the system library, then pyzmq's bundled copies")
    func candidates() {
        let c = ZMQLibrary.candidates(environment: ["PPDASH_LIBZMQ": "/opt/x/libzmq.so", "PATH": ""])
        #expect(c.first == "/opt/x/libzmq.so")
        #expect(c.contains("libzmq.so.5") || c.contains("libzmq.5.dylib"))
    }

    @Test("a missing library is one line saying how to install it")
    func missing() {
        do {
            _ = try ZMQLibrary.load(environment: ["PPDASH_LIBZMQ": "/nonexistent/libzmq.so", "PATH": ""])
            // The system has one: nothing more to check.
        } catch {
            #expect("\(error)".contains("libzmq5"))
            #expect(!"\(error)".contains("\n"))
        }
    }
}
