import Foundation
import PPJSON
import PPKit
import PPSource
import Synchronization
import Testing

@testable import PPAttach
@testable import PPJournal

import Glibc

/// A fresh directory under the temporary directory.
func tempDir() -> String {
    let d = NSTemporaryDirectory() + "/ppjournal-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// A header line for synthetic journals.
func headerLine(run: Int = 1, host: String = "h1", pid: Int32 = 4711, version: Int = JournalFormat.version) -> String {
    var h = JournalHeader(kind: run == 1 ? "run" : "resume", run: run, ppdashVersion: "0.1.0", engines: ["local:2"])
    h.host = host
    h.pid = pid
    var line = h.jsonLine()
    if version != JournalFormat.version {
        line = line.replacingOccurrences(of: "\"ppdash_journal\":\(JournalFormat.version)", with: "\"ppdash_journal\":\(version)")
    }
    return line
}

func submitted(_ id: Int, _ arg: String, of: String? = nil) -> String {
    var o = JSONObjectWriter()
    o.add("event", "submitted")
    o.add("id", id)
    o.add("batch", 1)
    o.add("seq", Int(arg) ?? id)
    o.add("command", "echo \(arg)")
    o.add("args", [arg])
    if let of { o.add("of", of) }
    return o.finish()
}

func started(_ id: Int, host: String = "h1", pgid: Int = 0) -> String {
    "{\"event\":\"started\",\"id\":\(id),\"engine\":0,\"host\":\"\(host)\",\"pgid\":\(pgid == 0 ? "null" : String(pgid)),\"at\":\"2026-11-29T10:00:01.000000Z\"}"
}

func completed(_ id: Int, _ status: String, stdout: String = "", of: String? = nil) -> String {
    var o = JSONObjectWriter()
    o.add("event", "completed")
    o.add("id", String(id))
    o.add("status", status)
    o.add("stdout", stdout)
    o.add("completed", "2026-11-29T10:00:02.000000Z")
    if let of { o.add("of", of) }
    return o.finish()
}

let batchLine = "{\"event\":\"batch\",\"batch\":1,\"label\":\"echo {}\"}"

func parse(_ lines: [String], trailingNewline: Bool = true) throws(JournalError) -> JournalContents {
    let text = lines.joined(separator: "\n") + (trailingNewline ? "\n" : "")
    return try JournalReader.parse(Data(text.utf8), path: "/j.jsonl")
}

/// Five tasks: 1 ok, 2 error, 3 running (pgid 900), 4 pending, 5 aborted.
let sample: [String] = [
    headerLine(), batchLine,
    submitted(1, "1"), submitted(2, "2"), submitted(3, "3"), submitted(4, "4"), submitted(5, "5"),
    started(1), completed(1, "ok", stdout: "1\n"), started(2), completed(2, "error"), started(3, pgid: 900),
    completed(5, "aborted"),
]

@Suite("Journal format")
struct JournalFormatTests {
    @Test func timestampsRoundTrip() {
        for us: Int64 in [0, 1_764_410_000_123_456, 1_000_000, 951_782_400_000_001] {
            let t = Timestamp(microseconds: us)
            #expect(Timestamp(iso8601: t.iso8601) == t, "\(t.iso8601)")
        }
        #expect(Timestamp(iso8601: "2026-11-29T10:12:20Z") != nil)
        #expect(Timestamp(iso8601: "yesterday") == nil)
    }

    @Test func fileNamesSayTimeHostAndPid() {
        let name = JournalFormat.fileName(started: Timestamp(microseconds: 1_764_410_000_000_000), host: "login 2", pid: 42)
        #expect(name.hasSuffix("-login_2-42.jsonl"), "\(name)")
        #expect(name.first?.isNumber == true)
    }

    @Test func defaultDirectoryFollowsXDG() {
        #expect(JournalFormat.defaultDirectory(environment: ["XDG_STATE_HOME": "/x/state", "HOME": "/h"]) == "/x/state/ppdash")
        #expect(JournalFormat.defaultDirectory(environment: ["HOME": "/h"]) == "/h/.local/state/ppdash")
        #expect(JournalFormat.defaultDirectory(environment: ["XDG_STATE_HOME": "relative", "HOME": "/h"]) == "/h/.local/state/ppdash")
    }

    @Test func keysNameTheRun() {
        #expect(JournalFormat.key(run: 1, id: 7) == "7")
        #expect(JournalFormat.key(run: 3, id: 7) == "3.7")
    }
}

@Suite("Journal reader")
struct JournalReaderTests {
    @Test func foldsEventsIntoLatestStates() throws {
        let c = try parse(sample)
        #expect(c.tasks.map(\.status) == [.ok, .error, .running, .pending, .aborted])
        #expect(c.tasks[0].outcome?.stdout == "1\n")
        #expect(c.tasks[2].processGroup == 900)
        #expect(c.tasks[0].label == "echo {}")
        #expect(c.runs.count == 1 && !c.isFinished)
        #expect(c.warnings.isEmpty)
    }

    @Test func skipsATornLastLineWithAWarning() throws {
        let torn = sample + ["{\"event\":\"completed\",\"id\":\"3\",\"sta"]
        let c = try parse(torn, trailingNewline: false)
        #expect(c.tasks[2].status == .running)
        #expect(c.warnings.count == 1 && c.warnings[0].contains("incomplete"), "\(c.warnings)")
    }

    @Test func aTornLineBeforeAResumeIsSkippedToo() throws {
        let lines = sample + ["{\"event\":\"comp", headerLine(run: 2, pid: 5000), submitted(1, "3", of: "3"), completed(1, "ok", of: "3")]
        let c = try parse(lines)
        #expect(c.runs.count == 2)
        #expect(c.tasks[2].status == .ok)
        #expect(c.warnings.count == 1)
    }

    @Test func refusesANewerFormat() {
        #expect(throws: JournalError.self) { try parse([headerLine(version: 99)]) }
        do {
            _ = try parse([headerLine(version: 99)])
        } catch {
            #expect(error.kind == .newerFormat)
            #expect(error.message.contains("newer ppdash"), "\(error.message)")
        }
    }

    @Test func skipsACorruptLineInTheMiddleWithAWarning() throws {
        var lines = sample
        lines.insert("this is not json", at: 4)
        let c = try parse(lines)
        #expect(c.tasks.map(\.status) == [.ok, .error, .running, .pending, .aborted])
        #expect(c.warnings.count == 1 && c.warnings[0].contains("/j.jsonl: line 5"), "\(c.warnings)")
    }

    @Test func refusesAFileThatIsNoJournal() {
        do {
            _ = try parse(["{\"hello\":1}"])
            Issue.record("read")
        } catch {
            #expect(error.kind == .notAJournal)
        }
    }

    @Test func refusesAnotherUsersJournal() throws {
        guard geteuid() == 0 else { return }  // only root can give a file away
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/other.jsonl"
        try (sample.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        chown(path, 65534, 65534)
        do {
            _ = try JournalReader.read(path)
            Issue.record("read another user's journal")
        } catch {
            #expect(error.kind == .otherUser, "\(error.message)")
        }
        #expect((try? JournalReader.read(path, requireOwner: false)) != nil)
    }

    @Test func resumesCountAsTheOriginalTasks() throws {
        let lines =
            sample + [
                "{\"event\":\"end\",\"reason\":\"done\"}", headerLine(run: 2, pid: 5000), batchLine,
                submitted(1, "2", of: "2"), submitted(2, "3", of: "3"), started(1), completed(1, "ok", of: "2"),
            ]
        let c = try parse(lines)
        #expect(c.tasks.count == 5)
        #expect(c.tasks.map(\.status) == [.ok, .ok, .pending, .pending, .aborted])
        #expect(c.tasks[1].run == 2)
        #expect(!c.isFinished, "the resume has not closed")
    }
}

@Suite("Resume planning")
struct ResumePlanTests {
    let c = try! parse(sample)

    @Test func rerunsEverythingNotOK() {
        let plan = ResumePlan.make(c, host: "h1") { _, _ in false }
        #expect(plan.rerun.map(\.task.key) == ["2", "3", "4", "5"])
        #expect(plan.alreadyOK == 1 && plan.orphans.isEmpty)
        #expect(plan.rerun[0].work.displayCommand == "echo 2")
    }

    @Test func narrowsToFailedOrUnfinished() {
        let failed = ResumePlan.make(c, selection: .failedOnly, host: "h1") { _, _ in false }
        #expect(failed.rerun.map(\.task.key) == ["2", "5"])
        #expect(failed.leftOut == 2)
        let unfinished = ResumePlan.make(c, selection: .unfinishedOnly, host: "h1") { _, _ in false }
        #expect(unfinished.rerun.map(\.task.key) == ["3", "4"])
    }

    @Test func findsOrphansStillRunningHere() {
        let plan = ResumePlan.make(c, host: "h1") { g, _ in g == 900 }
        #expect(plan.orphans.map(\.processGroup) == [900])
        #expect(plan.orphans.first?.task.key == "3")
    }

    @Test func aReusedProcessGroupNumberIsNoOrphan() {
        let me = getpid()
        guard let start = SystemFacts.processStart(me) else {
            Issue.record("no start time for our own process")
            return
        }
        #expect(start.seconds <= Date().timeIntervalSince1970 + 1 && start.seconds > Date().timeIntervalSince1970 - 86_400)
        let group = getpgrp()
        if SystemFacts.processStart(group) != nil {  // our group's leader lives: probe it
            #expect(SystemFacts.processGroupAlive(group))
            #expect(!SystemFacts.processGroupAlive(group, startedAt: Timestamp(seconds: 1_000_000)), "started long before: another group")
        }
    }

    @Test func tasksLastSeenOnAnotherHostAreNotProbedHere() {
        let plan = ResumePlan.make(c, host: "h2") { _, _ in true }
        #expect(plan.orphans.isEmpty)
        #expect(plan.elsewhere.map(\.key) == ["3"])
    }

    @Test func tasksThatAreNoShellCommandsAreNotRebuilt() throws {
        let demo = [
            headerLine(), "{\"event\":\"batch\",\"batch\":1,\"label\":\"f(x): sleep 0.1; x*x\"}",
            "{\"event\":\"submitted\",\"id\":1,\"batch\":1,\"seq\":1,\"command\":\"sleep 0.1; 0*0\",\"args\":[\"0\"]}",
        ]
        let plan = ResumePlan.make(try parse(demo), host: "h1") { _, _ in false }
        #expect(plan.rerun.isEmpty && plan.notRebuildable.count == 1)
    }
}

@Suite("ls states")
struct ListingTests {
    @Test func statesFromTheLastRun() throws {
        let open = try parse(sample)
        #expect(JournalListing.state(of: open, host: "h1") { _ in true } == .running(pid: 4711))
        #expect(JournalListing.state(of: open, host: "h1") { _ in false } == .interrupted)
        #expect(JournalListing.state(of: open, host: "h2") { _ in false } == .runningElsewhere(host: "h1", pid: 4711))
        #expect(JournalListing.state(of: open, host: "h2") { _ in false }.description == "running on h1, pid 4711")
        let done = try parse(sample + ["{\"event\":\"end\",\"reason\":\"done\"}"])
        #expect(JournalListing.state(of: done, host: "h2") { _ in true } == .finished(reason: "done"))
        #expect(JournalListing.state(of: done, host: "h1") { _ in true }.description == "finished")
    }

    @Test func skimmingCountsAsReadingDoes() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lines =
            sample + [
                "{\"event\":\"end\",\"reason\":\"done\"}", headerLine(run: 2, pid: 5000), batchLine,
                submitted(1, "2", of: "2"), submitted(2, "3", of: "3"), started(1), completed(1, "ok", of: "2"), started(2),
                "{\"event\":\"compl",
            ]
        try lines.joined(separator: "\n").write(toFile: dir + "/j.jsonl", atomically: true, encoding: .utf8)
        let full = try JournalReader.read(dir + "/j.jsonl")
        let g = try JournalListing.glance(dir + "/j.jsonl")
        #expect(full.lastRun.header.pid == 5000 && g.last.pid == 5000 && g.first.pid == 4711)
        #expect(g.endReason == nil && !full.isFinished)
        #expect(g.damaged.isEmpty, "a torn last line is no damage: \(g.damaged)")
    }

    @Test func listsNewestFirstAndSaysWhyOneIsUnreadable() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try (sample.joined(separator: "\n") + "\n").write(toFile: dir + "/20260101-000000-h1-1.jsonl", atomically: true, encoding: .utf8)
        try "garbage\n".write(toFile: dir + "/20260102-000000-h1-2.jsonl", atomically: true, encoding: .utf8)
        let list = try JournalListing.list(directory: dir, host: "elsewhere")
        #expect(list.count == 2)
        #expect(list[0].problem != nil)
        #expect(list[1].problem == nil && list[1].counts == nil, "no progress line: counts unknown")
    }
}

@Suite("Journal writer", .serialized)
struct JournalWriterTests {
    @Test func roundTripsARealBatch() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/sub/j.jsonl"
        let client = Client(engines: 2)
        defer { client.shutdown() }
        let header = JournalHeader(kind: "run", ppdashVersion: "test", engines: ["local:2"], template: "echo {}", arguments: [["a", "b c"]])
        let writer = try JournalWriter(path: path, header: header, scheduler: client.scheduler, warn: { Issue.record("warning: \($0)") })
        client.scheduler.addObserver { writer.record($0) }
        let ar = try client.loadBalancedView().submit(Sweep(template: try Template("echo {}"), groups: [["a", "b c", "x\"y"]]))
        #expect(ar.wait(timeout: 10))
        writer.finish(reason: "done", totals: client.scheduler.totals)

        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        let c = try JournalReader.read(path)
        #expect(c.isFinished)
        #expect(c.runs[0].header.template == "echo {}")
        #expect(c.runs[0].header.arguments == [["a", "b c"]])
        #expect(c.tasks.map(\.status) == [.ok, .ok, .ok])
        #expect(c.tasks.map { $0.outcome?.stdout } == ["a\n", "b c\n", "x\"y\n"])
        #expect(c.tasks.allSatisfy { $0.processGroup != nil && $0.host == SystemFacts.hostName })
        #expect(ResumePlan.rebuild(c.tasks[2])?.displayCommand == c.tasks[2].command)
        // Format 2: a completed line names its task (id, command, arguments) and leaves out what says nothing.
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let done = text.split(separator: "\n").filter { $0.hasPrefix("{\"event\":\"completed\"") }
        #expect(done.count == 3)
        #expect(done.allSatisfy { $0.contains("\"id\":") && $0.contains("\"args\":[") && $0.contains("\"command\":\"echo ") })
        #expect(done.allSatisfy { !$0.contains("\"stdout_dropped\":0") && !$0.contains("null") })
    }

    @Test func neverOverwritesAndSaysWhyItCannotWrite() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let client = Client(engines: 1)
        defer { client.shutdown() }
        let header = JournalHeader(kind: "run", ppdashVersion: "test", engines: [])
        try "precious\n".write(toFile: dir + "/j.jsonl", atomically: true, encoding: .utf8)
        #expect(throws: JournalError.self) {
            _ = try JournalWriter(path: dir + "/j.jsonl", header: header, scheduler: client.scheduler, warn: { _ in })
        }
        #expect(try String(contentsOfFile: dir + "/j.jsonl", encoding: .utf8) == "precious\n")
        do {
            _ = try JournalWriter(path: "/dev/full", header: header, scheduler: client.scheduler, append: true, warn: { _ in })
            Issue.record("wrote to /dev/full")
        } catch {
            #expect(error.kind == .cannotWrite && error.message.contains("/dev/full"), "\(error.message)")
        }
    }

    @Test func aResumeAppendsAfterATornLine() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/j.jsonl"
        try (sample.joined(separator: "\n") + "\n{\"event\":\"comp").write(toFile: path, atomically: true, encoding: .utf8)
        let client = Client(engines: 1)
        defer { client.shutdown() }
        let c0 = try JournalReader.read(path)
        let plan = ResumePlan.make(c0, host: "h1") { _, _ in false }
        let writer = try JournalWriter(
            path: path, header: JournalHeader(kind: "resume", run: 2, ppdashVersion: "t", engines: []),
            scheduler: client.scheduler, append: true, warn: { _ in })
        var origins: [Int: JournalWriter.Origin] = [:]
        for (i, r) in plan.rerun.enumerated() { origins[i + 1] = .init(key: r.task.key, seq: r.task.seq, attempt: 2) }
        writer.setOrigins(origins)
        client.scheduler.addObserver { writer.record($0) }
        let ar = try client.loadBalancedView().submit(shellTasks: plan.rerun.map(\.work), label: "resume")
        #expect(ar.wait(timeout: 10))
        writer.finish(reason: "done", totals: client.scheduler.totals)
        let c = try JournalReader.read(path)
        #expect(c.warnings.count == 1)
        #expect(c.tasks.map(\.status) == [.ok, .ok, .ok, .ok, .ok])
        #expect(c.tasks.map { $0.outcome?.stdout } == ["1\n", "2\n", "3\n", "4\n", "5\n"])
        #expect(c.isFinished && c.runs.count == 2)
    }
}

@Suite("State socket", .serialized)
struct StateServerTests {
    @Test func twoViewersSeeTheSameStateAndCommandsWork() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let client = Client(engines: 2)
        defer { client.shutdown() }
        let server = try StateServer(
            path: dir + "/s.sock", source: LocalSource(client: client), info: ServerInfo(journal: dir + "/j", ppdash: "t"),
            note: { _ in })
        defer { server.stop() }
        var st = stat()
        #expect(lstat(dir + "/s.sock", &st) == 0 && st.st_mode & 0o777 == 0o600)
        let a = try SocketSource(socket: dir + "/s.sock", journal: dir + "/j")
        let b = try SocketSource(socket: dir + "/s.sock", journal: dir + "/j")
        #expect(server.viewerCount == 2)
        let batch = try a.submit(line: "echo {} ::: 1 2 3")
        #expect(batch == 1)
        let deadline = Date().addingTimeInterval(10)
        while b.snapshot(TableQuery()).totals.ok < 3 && Date() < deadline { usleep(20_000) }
        let sa = a.snapshot(TableQuery())
        let sb = b.snapshot(TableQuery())
        #expect(sa.totals == sb.totals && sa.totals.ok == 3)
        #expect(sb.table.rows.count == 3)
        #expect(b.metadata(TaskID(2))?.stdout.text == "2\n")
        #expect(throws: (any Error).self) { try a.retry(task: TaskID(1)) }  // ok tasks cannot be retried: the error comes back
        a.setPaused(true)
        #expect(b.snapshot(TableQuery()).paused)
    }

    @Test func aViewerThatStopsReadingNeverSlowsTheScheduler() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let client = Client(engines: 2)
        defer { client.shutdown() }
        let server = try StateServer(
            path: dir + "/s.sock", source: LocalSource(client: client), info: ServerInfo(journal: dir + "/j", ppdash: "t"),
            note: { _ in })
        defer { server.stop() }
        // A viewer that floods requests and never reads a reply.
        let stuck = try UnixSocket.connect(dir + "/s.sock")
        defer { close(stuck) }
        let request = encodeLine(AttachRequest.snapshot(TableQuery(limit: 200)))
        _ = fcntl(stuck, F_SETFL, fcntl(stuck, F_GETFL) | O_NONBLOCK)
        for _ in 0..<2000 { _ = request.withUnsafeBytes { send(stuck, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
        let start = Date()
        let ar = try client.loadBalancedView().submit(builtins: Array(repeating: .noop, count: 20_000))
        #expect(ar.wait(timeout: 20))
        #expect(Date().timeIntervalSince(start) < 10)
        let other = try SocketSource(socket: dir + "/s.sock", journal: dir + "/j")
        #expect(other.snapshot(TableQuery()).totals.ok == 20_000)
    }

    @Test func aSocketLeftByADeadProcessIsReplacedWithANote() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/s.sock"
        let (fd, _) = try UnixSocket.listen(path)
        close(fd)  // the socket file stays, nobody listens: as after a SIGKILL
        let notes = NoteBox()
        let client = Client(engines: 1)
        defer { client.shutdown() }
        let server = try StateServer(
            path: path, source: LocalSource(client: client), info: ServerInfo(journal: "j", ppdash: "t"),
            note: { notes.add($0) })
        defer { server.stop() }
        #expect(notes.lines.count == 1 && notes.lines[0].contains("replaced"), "\(notes.lines)")
        // A live one is refused.
        #expect(throws: UnixSocket.Failure.self) {
            _ = try StateServer(path: path, source: LocalSource(client: client), info: ServerInfo(journal: "j", ppdash: "t"), note: { _ in })
        }
    }
}

final class NoteBox: Sendable {
    private let box = Mutex<[String]>([])
    func add(_ s: String) { box.withLock { $0.append(s) } }
    var lines: [String] { box.withLock { $0 } }
}

/// Journals written by the ppdash before the JSON layer (Fixtures/make-fixtures.sh made them).
@Suite("Journals written by an earlier ppdash")
struct FixtureJournalTests {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    func read(_ name: String) throws -> JournalContents { try JournalReader.read(Self.dir + "/" + name, requireOwner: false) }

    func lines(_ name: String) throws -> [String] {
        try String(contentsOfFile: Self.dir + "/" + name, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    @Test func everyTaskEndsInTheStateItReached() throws {
        let mixed = try read("mixed.jsonl")
        #expect(mixed.tasks.map(\.status) == [.ok, .ok, .ok, .error, .timeout, .error, .ok])
        #expect(mixed.tasks.map(\.retries) == [0, 0, 0, 1, 1, 1, 1])
        #expect(mixed.tasks[1].outcome?.stdout == "quote\" back\\ tab\tend\n")
        #expect(mixed.tasks[1].outcome?.stderr == "ctl\u{1}\u{1b}[1m\u{7f} \u{2028} sep\n")
        #expect(mixed.tasks[2].outcome?.stdout == "unicode é 😀 ∑\n")
        #expect(mixed.tasks[3].outcome?.exit == 3 && mixed.tasks[4].outcome?.signal == 15)
        #expect(mixed.tasks[5].outcome?.exit == 137 && mixed.tasks[6].outcome?.stdout == "second\n")
        #expect(mixed.isFinished && mixed.runs.count == 1 && mixed.lastRun.engines.count == 2)
        #expect(mixed.tasks.allSatisfy { $0.label == "sh /tmp/fx/t.sh {} $D/flag" })

        let halt = try read("halt.jsonl")
        #expect(halt.tasks.map(\.status) == [.error, .aborted, .aborted])
        #expect(halt.lastRun.endReason == "done")

        let resumed = try read("resumed.jsonl")
        #expect(resumed.runs.count == 2 && resumed.isFinished && resumed.runs[1].header.kind == "resume")
        #expect(resumed.tasks.map(\.key) == ["1", "2", "3", "4", "5", "6"])
        #expect(resumed.tasks.map(\.status) == [.ok, .error, .ok, .ok, .ok, .ok])
        #expect(resumed.tasks.map(\.run) == [1, 2, 2, 2, 2, 2])
        #expect(resumed.tasks[2].outcome?.stdout == "slept\n")
        #expect(resumed.warnings.isEmpty)
    }

    @Test func aGlanceSaysWhatTheFullReaderSays() throws {
        for name in ["mixed.jsonl", "halt.jsonl", "resumed.jsonl"] {
            let full = try read(name)
            let g = try JournalListing.glance(Self.dir + "/" + name)
            #expect(g.endReason == full.lastRun.endReason, "\(name)")
            #expect(g.last.pid == full.lastRun.header.pid, "\(name)")
            #expect(g.damaged.isEmpty, "\(name): \(g.damaged)")
            if full.runs.count == 1 { #expect(g.counts == full.counts, "\(name)") }
        }
    }

    @Test func theWriterGivesTheSameBytesForTheSameEvents() throws {
        // Format 1's engine, batch, submitted, started and end lines are format 2's too, byte for byte (the header
        // says its version; completed lines are compact in format 2: `CompactJournalTests` reads both the same).
        for name in ["mixed.jsonl", "halt.jsonl", "resumed.jsonl"] {
            for line in try lines(name) where !line.contains("\"ppdash_journal\"") && !line.contains("\"event\":\"completed\"") {
                let event = try #require(JournalEvent(json: try JSONValue.parse(line)), "\(line)")
                #expect(event.line == line)
            }
        }
        for line in try lines("mixed-json-output.jsonl") {
            #expect(FlatTaskRecord(json: try JSONValue.parse(line))?.jsonLine() == line)
        }
    }
}

/// A `submitted` / `started` / `completed` line of a resumed task: its first run's id, with the attempt.
func attemptLine(_ event: String, _ id: Int, attempt: Int, status: String = "ok", stdout: String = "") -> String {
    var o = JSONObjectWriter()
    o.add("event", event)
    switch event {
    case "submitted":
        o.add("id", id)
        o.add("batch", 1)
        o.add("seq", id)
        o.add("command", "echo \(id)")
        o.add("args", [String(id)])
    case "started":
        o.add("id", id)
        o.add("pgid", 77)
    default:
        o.add("id", String(id))
        o.add("seq", id)
        o.add("status", status)
        o.add("stdout", stdout)
    }
    o.add("attempt", attempt)
    return o.finish()
}

@Suite("Journal: resume is the same run, damaged lines, bounded reading")
struct JournalSameRunTests {
    @Test func aResumedTaskIsReadOnceUnderItsIdWithItsFinalState() throws {
        var h2 = JournalHeader(kind: "resume", run: 2, ppdashVersion: "t", engines: ["local:2"])
        h2.host = "h1"
        let lines =
            sample + [
                "{\"event\":\"end\",\"reason\":\"done\"}", h2.jsonLine(),
                attemptLine("submitted", 2, attempt: 2), attemptLine("submitted", 3, attempt: 2),
                attemptLine("started", 2, attempt: 2), attemptLine("completed", 2, attempt: 2, stdout: "again\n"),
                // A new task of the resume (the dashboard's prompt): its own key, even with the same line id.
                "{\"event\":\"batch\",\"batch\":2,\"label\":\"date\"}",
                "{\"event\":\"submitted\",\"id\":3,\"batch\":2,\"seq\":1,\"command\":\"date\",\"args\":[]}",
                attemptLine("completed", 3, attempt: 2, status: "error"),
            ]
        let c = try parse(lines)
        #expect(c.tasks.map(\.key) == ["1", "2", "3", "4", "5", "2.3"])
        #expect(c.tasks.map(\.status) == [.ok, .ok, .error, .pending, .aborted, .pending])
        #expect(c.tasks[1].attempt == 2 && c.tasks[1].outcome?.stdout == "again\n" && c.tasks[1].seq == 2)
        #expect(c.batchLabels == ["echo {}", "date"], "no empty batch for the resume")
        #expect(c.warnings.isEmpty, "\(c.warnings)")
    }

    @Test func anOldResumesEmptyBatchIsDropped() throws {
        let lines =
            sample + [
                "{\"event\":\"end\",\"reason\":\"done\"}", headerLine(run: 2, pid: 5000), batchLine,
                submitted(1, "2", of: "2"), completed(1, "ok", of: "2"),
            ]
        let c = try parse(lines)
        #expect(c.batchLabels.count == 1 && c.tasks.allSatisfy { $0.batch == 1 })
        #expect(JournalSource(c, label: "").snapshot(TableQuery(limit: 0, batchLimit: 10)).batches.count == 1)
    }

    @Test func damagedLinesAreSkippedWithTheirLineNumberNeverATrap() throws {
        let bad = [
            "{\"event\":\"completed\",\"id\":\"99999999999999999999\"}",
            "{\"event\":\"completed\",\"id\":\"3\",\"status\":\"ok\",\"exit\":99999999999}",
            "{\"event\":\"started\",\"id\":3,\"pgid\":\"x\"}",
            "{\"event\":\"submitted\",\"id\":-4}",
            "{\"event\":\"completed\",\"id\":\"3\",\"status\":\"ok\",\"started\":\"yesterday\"}",
            "{\"event\":\"end\",\"ok\":-1}",
            "{\"event\":\"submitted\",\"id\":9,\"args\":[1,2]}",
            "{\"event\":7}",
            "\u{0}\u{0}\u{0}",
            "[1,2,3]",
        ]
        let c = try parse(sample + bad)
        #expect(c.tasks.map(\.status) == [.ok, .error, .running, .pending, .aborted])
        #expect(c.warnings.count == bad.count, "\(c.warnings)")
        for (i, w) in c.warnings.enumerated() {
            #expect(w.hasPrefix("/j.jsonl: line \(sample.count + i + 1) "), "\(w)")
        }
        #expect(c.warnings[8].contains("NUL"))
        #expect(c.lastRun.endReason == nil)
    }

    @Test func aDamagedHeaderIsNoJournalAndSaysWhy() {
        for header in [
            "{\"ppdash_journal\":1,\"host\":\"h\",\"pid\":\"x\"}", "{\"ppdash_journal\":1,\"host\":\"h\",\"pid\":1,\"uid\":-5}",
            "{\"ppdash_journal\":1,\"host\":\"h\",\"pid\":1,\"options\":{\"retries\":-1}}",
        ] {
            do {
                _ = try parse([header])
                Issue.record("read \(header)")
            } catch {
                #expect(error.kind == .notAJournal && error.message.contains("damaged"), "\(error.message)")
            }
        }
    }

    @Test func theHeaderRecordsTheRunsOptions() throws {
        var h = JournalHeader(kind: "run", ppdashVersion: "t", engines: ["proc:2"], template: "echo {}", arguments: [["a"]])
        h.settings = RunSettings(
            timeout: 1.5, retries: 2, maxOutput: 100, halt: "soon", scheme: "lru", environment: ["A", "B"], workdir: "/w")
        let c = try parse([h.jsonLine()])
        #expect(c.runs[0].header.settings == h.settings)
        #expect(c.runs[0].header.engines == ["proc:2"])
        // Old journals have none.
        #expect(try parse([headerLine()]).runs[0].header.settings == nil)
        // `--timeout N%` is kept as N (a percentage of the median run time), never as seconds.
        var percent = RunSettings(retries: 0)
        percent.timeoutPercent = 250.5
        h.settings = percent
        let p = try parse([h.jsonLine()]).runs[0].header.settings
        #expect(p == percent && p?.timeout == nil && p?.timeoutPercent == 250.5)
        // Both at once, or a percentage that is not above 0, is a damaged header: never a limit made up.
        for bad in ["\"timeout\":2,\"timeout_percent\":300", "\"timeout_percent\":-5", "\"timeout_percent\":\"300%\""] {
            let line = h.jsonLine().replacingOccurrences(of: "\"timeout_percent\":250.5", with: bad)
            #expect(line.contains(bad), "\(line)")
            #expect(throws: JournalError.self) { _ = try parse([line]) }
        }
    }

    @Test func tasksWhoseSubmittedLineNeverReachedTheDiskArePlannedFromTheHeader() throws {
        var h = JournalHeader(
            kind: "run", ppdashVersion: "t", engines: ["local:2"], template: "echo {}", arguments: [["a", "b", "c", "d", "e"]])
        h.host = "h1"
        let lines = [
            h.jsonLine(), batchLine,
            "{\"event\":\"submitted\",\"id\":1,\"batch\":1,\"seq\":1,\"command\":\"echo a\",\"args\":[\"a\"]}",
            "{\"event\":\"submitted\",\"id\":2,\"batch\":1,\"seq\":2,\"command\":\"echo b\",\"args\":[\"b\"]}",
            completed(1, "ok"),
            // Task 4 started (its line written ahead of the backlog) before its submitted line.
            "{\"event\":\"submitted\",\"id\":4,\"batch\":1,\"seq\":4,\"command\":\"echo d\",\"args\":[\"d\"]}",
            started(4, pgid: 900),
        ]
        let c = try parse(lines)
        // The tasks the journal names, then those it never named (planned without a row each), in seq order.
        #expect(c.tasks.map(\.key) == ["1", "2", "4", "3", "5"])
        #expect(c.tasks.map(\.status) == [.ok, .pending, .running, .pending, .pending])
        #expect(c.tasks[3].command == "echo c" && c.tasks[4].args == ["e"] && c.tasks[4].label == "echo {}")
        let plan = ResumePlan.make(c, host: "h1") { g, _ in g == 900 }
        #expect(plan.rerun.map(\.task.key) == ["2", "4"])
        #expect(plan.orphans.map(\.task.key) == ["4"])
        #expect(plan.rerun.map(\.work.displayCommand) == ["echo b", "echo d"])
        let tail = try #require(plan.tail)
        #expect((0..<tail.count).map { tail.work($0).displayCommand } == ["echo c", "echo e"])
        #expect(plan.count == 4)
    }

    @Test func outputCanStayInTheFile() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/j.jsonl"
        try (sample.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let c = try JournalReader.read(path, keepOutput: false)
        #expect(c.tasks[0].outcome == nil && c.tasks[0].outputOffset != nil)
        #expect(JournalReader.outcome(at: c.tasks[0].outputOffset!, in: path)?.stdout == "1\n")
        #expect(JournalSource(c, label: "").metadata(TaskID(1))?.stdout.text == "1\n")
    }

    @Test("a journal read back lists its failed tasks for the triage, each with its exit status and first line")
    func failuresFromTheJournal() throws {
        var failing = JSONObjectWriter()
        failing.add("event", "completed")
        failing.add("id", "2")
        failing.add("status", "error")
        failing.add("exit", Int(3))
        failing.add("stderr", "\nboom: no such file\nmore\n")
        failing.add("completed", "2026-11-29T10:00:02.000000Z")
        let lines = [
            headerLine(), batchLine, submitted(1, "1"), submitted(2, "2"), submitted(5, "5"), started(1),
            completed(1, "ok", stdout: "1\n"), started(2), failing.finish(), completed(5, "aborted"),
        ]
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/j.jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        for keep in [true, false] {
            let c = try JournalReader.read(path, keepOutput: keep)
            let f = try #require(JournalSource(c, label: "").failures())
            #expect(f.map(\.task) == [TaskID(2), TaskID(3)], "keepOutput \(keep)")
            #expect(f.first?.exitStatus == 3 && f.first?.firstLine == "boom: no such file")
            #expect(f.last?.status == .aborted)
        }
    }

    @Test func namesGetASuffixWhenTaken() {
        let t = Timestamp(iso8601: "2026-11-29T10:12:20Z")!
        let a = JournalFormat.fileName(started: t, host: "h", pid: 7)
        let b = JournalFormat.fileName(started: t, host: "h", pid: 7, attempt: 2)
        #expect(a != b && b.hasSuffix("-h-7-2.jsonl"))
        #expect(JournalFormat.spoolPath(forJournal: "/d/x.jsonl") == "/d/x.spool")
    }
}

@Suite("ls: header and tail; prune", .serialized)
struct LsGlanceAndPruneTests {
    @Test func aGlanceReadsCountsFromTheTailAndSeesDamageThere() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/j.jsonl"
        var filler = [String]()
        for i in 6...30000 { filler.append(submitted(i, String(i))) }
        let lines =
            sample + filler + [
                "{\"event\":\"progress\",\"run\":1,\"tasks\":{\"total\":30000,\"pending\":29996,\"running\":1,\"ok\":1,\"error\":1,\"aborted\":1,\"timeout\":0}}",
                "{\"event\":\"completed\",\"id\":\"99999999999999999999\"}",
            ]
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let g = try JournalListing.glance(path)
        #expect(g.counts?.total == 30000 && g.counts?.ok == 1)
        #expect(g.damaged.count == 1, "\(g.damaged)")
        #expect(g.endReason == nil && !g.locked)
        let s = JournalListing.summary(of: path, host: "h1")
        #expect(s.damage != nil && s.problem == nil)
    }

    @Test("ls counts the results after the last progress line (a killed ppdash left up to 2 s of them); a resume's re-runs it says it did not count")
    func countsAfterTheLastProgressLine() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/j.jsonl"
        // Tasks 1-5 as in `sample`, then the progress line (1 ok, 1 error, 1 aborted, 1 running, 1 pending), then
        // task 3 (running) ended ok and task 4 (pending) timed out before the kill.
        let progress =
            "{\"event\":\"progress\",\"run\":1,\"tasks\":{\"total\":5,\"pending\":1,\"running\":1,\"ok\":1,\"error\":1,\"aborted\":1,\"timeout\":0}}"
        let killed = sample + [progress, completed(3, "ok"), started(4), completed(4, "timeout")]
        try (killed.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let g = try JournalListing.glance(path)
        #expect(g.counts?.ok == 1, "the progress line's own counts")
        var want = StatusCounts()
        (want.ok, want.error, want.aborted, want.timeout) = (2, 1, 1, 1)
        #expect(g.countsNow == want, "\(String(describing: g.countsNow))")
        let s = JournalListing.summary(of: path, host: "elsewhere")
        #expect(s.counts == want && s.uncounted == 0)

        // A resume killed before its first progress line: its re-run of task 2 cannot be counted from the tail (the
        // task's earlier outcome is not there), and ls says so.
        let resumed =
            killed + [
                "{\"event\":\"end\",\"reason\":\"interrupted\",\"tasks\":{\"total\":5,\"pending\":0,\"running\":0,\"ok\":2,\"error\":1,\"aborted\":1,\"timeout\":1}}",
                headerLine(run: 2, pid: 5000), batchLine, submitted(2, "2", of: "2"), started(2), completed(2, "ok", of: "2"),
            ]
        try (resumed.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let r = JournalListing.summary(of: path, host: "elsewhere")
        #expect(r.counts == want && r.uncounted == 1, "\(String(describing: r.counts)) \(r.uncounted)")
    }

    @Test("ls on a journal read as a killed ppdash leaves it: the counts equal the scheduler's, whenever the last progress line was written")
    func countsOfALiveWriterAgree() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/j.jsonl"
        let client = Client(engines: 2)
        defer { client.shutdown() }
        let header = JournalHeader(kind: "run", ppdashVersion: "test", engines: ["local:2"], template: "echo {}", arguments: [["a"]])
        let writer = try JournalWriter(path: path, header: header, scheduler: client.scheduler, warn: { Issue.record("warning: \($0)") })
        client.scheduler.addObserver { writer.record($0) }
        let view = client.loadBalancedView()
        #expect(try view.submit(builtins: Array(repeating: .noop, count: 40)).wait(timeout: 10))
        // The sync thread writes a progress line every 2 s: wait for one (bounded), then finish more tasks.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, (try? JournalListing.glance(path))?.counts == nil { usleep(20_000) }
        #expect(try JournalListing.glance(path).counts != nil, "no progress line in 10 s")
        #expect(try view.submit(builtins: Array(repeating: .noop, count: 25)).wait(timeout: 10))
        let g = try JournalListing.glance(path)
        #expect(g.countsNow == client.scheduler.totals, "ls \(String(describing: g.countsNow)) vs \(client.scheduler.totals)")
        writer.finish(reason: "done", totals: client.scheduler.totals)
    }

    @Test func anUnreadableDirectoryIsAnErrorAMissingOneEmpty() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "x\n".write(toFile: dir + "/file", atomically: true, encoding: .utf8)
        #expect(throws: JournalListing.DirectoryError.self) { _ = try JournalListing.files(in: dir + "/file") }
        #expect(try JournalListing.files(in: dir + "/none").isEmpty)
    }

    @Test func pruneRemovesFinishedJournalsWithSpoolAndSocketNeverARunningOne() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let done = sample + ["{\"event\":\"end\",\"reason\":\"done\"}"]
        for n in 1...3 {
            try (done.joined(separator: "\n") + "\n").write(
                toFile: dir + "/2026010\(n)-000000-h1-\(n).jsonl", atomically: true, encoding: .utf8)
        }
        try FileManager.default.createDirectory(atPath: dir + "/20260101-000000-h1-1.spool", withIntermediateDirectories: true)
        try "o".write(toFile: dir + "/20260101-000000-h1-1.spool/1.out", atomically: true, encoding: .utf8)
        // Running: locked by its writer.
        let client = Client(engines: 1)
        defer { client.shutdown() }
        let live = dir + "/20251231-000000-h1-9.jsonl"
        let writer = try JournalWriter(
            path: live, header: JournalHeader(kind: "run", ppdashVersion: "t", engines: []), scheduler: client.scheduler,
            warn: { _ in })
        #expect(JournalListing.isLocked(live))
        // A registered journal elsewhere.
        let other = tempDir()
        defer { try? FileManager.default.removeItem(atPath: other) }
        try (done.joined(separator: "\n") + "\n").write(toFile: other + "/mine.jsonl", atomically: true, encoding: .utf8)
        try JournalFormat.register(other + "/mine.jsonl", in: dir, started: Timestamp(iso8601: "2025-01-01T00:00:00Z")!)

        let r = try JournalPruning.prune(directory: dir, keep: 1, olderThanDays: nil, now: SystemClock().now(), host: "h1")
        #expect(r.removedJournals == 3, "\(r.removed)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/20260101-000000-h1-1.jsonl"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/20260101-000000-h1-1.spool"))
        #expect(FileManager.default.fileExists(atPath: dir + "/20260103-000000-h1-3.jsonl"), "the newest finished kept")
        #expect(FileManager.default.fileExists(atPath: live), "never a running one")
        #expect(FileManager.default.fileExists(atPath: other + "/mine.jsonl"), "a named journal stays")
        #expect(try JournalListing.files(in: dir).count == 2)
        writer.finish(reason: "done", totals: StatusCounts())
        let none = try JournalPruning.prune(directory: dir, keep: 0, olderThanDays: 1, now: SystemClock().now(), host: "h1")
        #expect(none.removedJournals == 0, "none older than a day")
    }

    @Test(.enabled(if: canMountTmpfs, "mounting a small tmpfs needs root and a system that lets it mount one"))
    func aFullDiskStopsDispatchAndSaysSoOnce() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        guard runBlockingShell("mount -t tmpfs -o size=64k tmpfs \(dir)") == 0 else {
            Issue.record("cannot mount a tmpfs here")
            return
        }
        defer { _ = runBlockingShell("umount \(dir)") }
        let client = Client(engines: 2)
        defer { client.shutdown() }
        let warnings = NoteBox()
        let session = try JournalSession(
            path: dir + "/j.jsonl", header: JournalHeader(kind: "run", ppdashVersion: "t", engines: ["local:2"]),
            scheduler: client.scheduler, source: LocalSource(client: client, flags: ViewFlags()), ppdashVersion: "t",
            warn: { warnings.add($0) })
        session.observe()
        let ar = try client.loadBalancedView().submit(
            Sweep(template: try Template("echo {}"), groups: [ArgGroup((1...5000).map(String.init))]))
        #expect(ar.wait(timeout: 60))
        session.finish()
        #expect(session.writer.hasFailed)
        #expect(warnings.lines.count == 1, "\(warnings.lines)")
        #expect(warnings.lines.first?.lowercased().contains("no space left on") == true, "\(warnings.lines)")
        #expect(ar.counts.aborted > 0, "no new task started after the failure: \(ar.counts)")
        let shown = session.journaled(LocalSource(client: client)).snapshot(TableQuery(limit: 0, batchLimit: 0)).source
        #expect(shown.contains("JOURNAL WRITE FAILED"), "the dashboard's header says so: \(shown)")
    }
}

/// Runs `sh -c command` and returns its exit status.
/// Whether a tmpfs can be mounted here (root, and not a container that forbids it): tried once.
let canMountTmpfs: Bool = {
    guard geteuid() == 0 else { return false }
    let dir = NSTemporaryDirectory() + "ppdash-mount-probe-\(getpid())"
    guard (try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)) != nil else { return false }
    defer { try? FileManager.default.removeItem(atPath: dir) }
    guard runBlockingShell("mount -t tmpfs -o size=64k tmpfs \(dir) 2>/dev/null") == 0 else { return false }
    _ = runBlockingShell("umount \(dir)")
    return true
}()

func runBlockingShell(_ command: String) -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", command]
    do { try p.run() } catch { return -1 }
    p.waitUntilExit()
    return p.terminationStatus
}
