// `ppdash ls`: recent journals with their state (running, finished, interrupted), counts and start time, read from
// each journal's header and tail only; `ls --prune` removes finished ones.
import Foundation
import Glibc
import PPJSON
import PPKit

/// Where a journal's batch stands.
public enum JournalState: Sendable, Hashable, CustomStringConvertible {
    /// Its ppdash runs on this host.
    case running(pid: Int32)
    /// Written on another host (a shared home directory) and not closed: it may run there; we cannot check from here.
    case runningElsewhere(host: String, pid: Int32)
    /// Closed by its ppdash.
    case finished(reason: String)
    /// Not closed, and its ppdash is gone (killed, or the machine went down).
    case interrupted

    public var description: String {
        switch self {
        case .running(let pid): "running, pid \(pid)"
        case .runningElsewhere(let host, let pid): "running on \(host), pid \(pid)"
        case .finished(let reason): reason == "done" ? "finished" : "finished (\(reason))"
        case .interrupted: "interrupted"
        }
    }

    public var isRunningHere: Bool {
        if case .running = self { return true }
        return false
    }

    public var isFinished: Bool {
        if case .finished = self { return true }
        return false
    }
}

/// One line of `ppdash ls`.
public struct JournalSummary: Sendable {
    public var path: String
    public var state: JournalState
    public var started: Timestamp
    /// Journal-wide counts from the last `progress` or `end` line, with the tasks that finished after it; nil when
    /// the tail holds none.
    public var counts: StatusCounts?
    /// Results after the last `progress` line that re-ran a task of an earlier run (a resume killed before its next
    /// one): not in `counts`, since the task's earlier outcome is not in the part read.
    public var uncounted = 0
    /// Tasks of the run's sweep (from the header's arguments), when known.
    public var planned: Int?
    /// Runs (1 + resumes), when the tail says.
    public var runs: Int?
    public var header: JournalHeader
    /// Why the journal cannot be used (not a journal, a newer format...): the line says so instead of counts.
    public var problem: String?
    /// Damaged lines seen in the part read (the header and the tail): the first's reason, and how many.
    public var damage: String?
    /// The time of the journal's last change (for `--older-than`).
    public var modified: Timestamp
}

/// What a journal's header and tail say: constant work per journal, whatever its size.
public struct JournalGlance: Sendable {
    public var first: JournalHeader
    /// The newest run header in the part read (the first when the tail holds none).
    public var last: JournalHeader
    public var endReason: String?
    public var counts: StatusCounts?
    /// Tasks that finished after the last `progress` or `end` line, by status: the writer puts one every 2 s, so a
    /// ppdash killed meanwhile left up to 2 s of results after it. First runs only (see `rerunsSince`).
    public var finishedSince = StatusCounts()
    /// Results after that line that re-ran a task of an earlier run (its earlier outcome is not in the tail).
    public var rerunsSince = 0
    public var runs: Int?
    public var damaged: [String]
    /// Another process holds the journal's lock (a ppdash writes it).
    public var locked: Bool
    public var modified: Timestamp
}

extension JournalGlance {
    /// The last counts in the tail with the tasks that finished after them: each left the unfinished ones (running
    /// first), and a task submitted after the counts (read from stdin) and already finished adds to the total.
    public var countsNow: StatusCounts? {
        guard var c = counts else { return nil }
        for s in TaskStatus.allCases where s.isFinished {
            var k = finishedSince[s]
            c[s] += k
            let fromRunning = min(k, c.running)
            c.running -= fromRunning
            k -= fromRunning
            c.pending -= min(k, c.pending)
        }
        return c
    }
}

/// Finds and summarises journals.
public enum JournalListing {
    /// The bytes of a journal's end `ls` reads.
    static let tailBytes = 1 << 20
    /// The longest first line `ls` reads whole (a header holds the run's arguments).
    static let headBytes = 8 << 20

    /// The state of a read journal, seen from `host`; `isPPDash` probes a local pid (injectable for tests).
    public static func state(
        of c: JournalContents, host: String = SystemFacts.hostName, isPPDash: (Int32) -> Bool = SystemFacts.isPPDash
    ) -> JournalState {
        let last = c.lastRun
        if let reason = last.endReason { return .finished(reason: reason) }
        if isLocked(c.path) { return .running(pid: last.header.pid) }
        if last.header.host != host { return .runningElsewhere(host: last.header.host, pid: last.header.pid) }
        return isPPDash(last.header.pid) && last.header.pid != SystemFacts.pid ? .running(pid: last.header.pid) : .interrupted
    }

    /// The state a glance shows.
    public static func state(
        of g: JournalGlance, host: String = SystemFacts.hostName, isPPDash: (Int32) -> Bool = SystemFacts.isPPDash
    ) -> JournalState {
        if let reason = g.endReason { return .finished(reason: reason) }
        if g.locked { return .running(pid: g.last.pid) }
        if g.last.host != host { return .runningElsewhere(host: g.last.host, pid: g.last.pid) }
        return isPPDash(g.last.pid) && g.last.pid != SystemFacts.pid ? .running(pid: g.last.pid) : .interrupted
    }

    /// Whether a process holds the journal's write lock (a running ppdash; see `JournalWriter`).
    public static func isLocked(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    /// Why a directory cannot be listed, as one line.
    public struct DirectoryError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Journal files in `directory` (registered ones, symlinks, resolved), newest first (by name, which starts
    /// with the start time, then by mtime). A directory that does not exist holds none; one that cannot be read
    /// is an error.
    public static func files(in directory: String) throws(DirectoryError) -> [String] {
        guard let d = opendir(directory) else {
            let e = errno
            if e == ENOENT { return [] }
            throw DirectoryError(description: "cannot read the directory \(directory): \(SystemFacts.errorText(e))")
        }
        defer { closedir(d) }
        var names = [String]()
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasSuffix(JournalFormat.suffix) && !name.hasPrefix(".") { names.append(name) }
        }
        var entries = names.map { name -> (name: String, path: String, mtime: Int) in
            let p = directory + "/" + name
            var st = stat()
            let m = stat(p, &st) == 0 ? st.st_mtim.tv_sec : 0
            return (name, resolve(p), m)
        }
        entries.sort { a, b in a.name != b.name ? a.name > b.name : a.mtime > b.mtime }
        var seen = Set<String>()
        return entries.compactMap { seen.insert($0.path).inserted ? $0.path : nil }
    }

    /// A registry entry (a symlink) resolved to the journal it names; other paths as they are.
    static func resolve(_ path: String) -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buf, Int(PATH_MAX))
        guard n > 0 else { return path }
        let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if target.hasPrefix("/") { return target }
        return (path as NSString).deletingLastPathComponent + "/" + target
    }

    /// Summaries of the newest `limit` journals in `directory`.
    public static func list(directory: String, limit: Int = 20, host: String = SystemFacts.hostName) throws(
        DirectoryError
    ) -> [JournalSummary] {
        try files(in: directory).prefix(limit).map { summary(of: $0, host: host) }
    }

    /// One journal's summary, from its header and tail; a journal that cannot be read says why.
    public static func summary(of path: String, host: String = SystemFacts.hostName) -> JournalSummary {
        do {
            let g = try glance(path)
            var planned: Int?
            if g.first.kind == "run", let groups = g.first.arguments, !groups.isEmpty, let t = g.first.template,
                let template = try? Template(t)
            {
                planned = Sweep(template: template, groups: groups).count
            }
            return JournalSummary(
                path: path, state: state(of: g, host: host), started: g.first.started, counts: g.countsNow,
                uncounted: g.counts == nil ? 0 : g.rerunsSince, planned: planned, runs: g.runs, header: g.first, problem: nil,
                damage: g.damaged.isEmpty ? nil : g.damaged[0] + (g.damaged.count > 1 ? " (and \(g.damaged.count - 1) more)" : ""),
                modified: g.modified)
        } catch {
            let header = JournalHeader(kind: "?", ppdashVersion: "?", engines: [], started: Timestamp(microseconds: 0))
            var st = stat()
            let m = stat(path, &st) == 0 ? Timestamp(seconds: Double(st.st_mtim.tv_sec)) : Timestamp(microseconds: 0)
            return JournalSummary(
                path: path, state: .interrupted, started: Timestamp(microseconds: 0), counts: nil, planned: nil, runs: nil,
                header: header, problem: error.message, damage: nil, modified: m)
        }
    }

    /// Reads a journal's first line and its last `tailBytes`, with the checks the full reader applies to the lines
    /// it reads.
    public static func glance(_ path: String) throws(JournalError) -> JournalGlance {
        let fd = try JournalReader.openChecked(path, requireOwner: false)
        defer { close(fd) }
        var st = stat()
        fstat(fd, &st)
        let size = Int(st.st_size)
        let modified = Timestamp(seconds: Double(st.st_mtim.tv_sec))
        // The first line.
        var head = [UInt8]()
        var headEnd: Int?
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while head.count < headBytes {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, off_t(head.count)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            if let nl = chunk[0..<n].firstIndex(of: 10) {
                head.append(contentsOf: chunk[0..<nl])
                headEnd = head.count + 1
                break
            }
            head.append(contentsOf: chunk[0..<n])
        }
        guard !head.isEmpty else { throw JournalError(.notAJournal, "\(path) is empty: not a ppdash journal") }
        var parser = JournalReader.LineParser(path: path)
        if headEnd != nil || head.count < headBytes {
            let torn = headEnd == nil
            var failure: JournalError?
            head.withUnsafeBufferPointer { b in
                do throws(JournalError) { try parser.line(1, b, torn: torn) } catch { failure = error }
            }
            if let failure { throw failure }
        } else {
            // A header longer than `headBytes` (a run over millions of arguments): its leading keys only.
            guard let h = leadingHeader(head) else {
                throw JournalError(.notAJournal, "\(path) is not a ppdash journal (its first line is no journal header)")
            }
            parser.sawFirst = true
            parser.b.add(.header(h))
        }
        let first = parser.b.runs[0].header
        var g = JournalGlance(
            first: first, last: first, endReason: nil, counts: nil, runs: nil, damaged: [], locked: isLocked(path),
            modified: modified)
        guard let headEnd, headEnd < size else {
            return g
        }
        // The tail: whole lines of the last `tailBytes`.
        let from = max(headEnd, size - tailBytes)
        var tail = [UInt8](repeating: 0, count: size - from)
        var got = 0
        while got < tail.count {
            let n = tail.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, $0.count - got, off_t(from + got)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            got += n
        }
        tail.removeLast(tail.count - got)
        var start = 0
        if from > headEnd {
            // Mid-file: the first line is a part of one.
            guard let nl = tail.firstIndex(of: 10) else { return g }
            start = nl + 1
        }
        tail.withUnsafeBufferPointer { b in
            var s = start
            let n = b.count
            while s < n {
                var e = s
                while e < n && b[e] != 10 { e += 1 }
                let line = UnsafeBufferPointer(rebasing: b[s..<e])
                let torn = e == n
                s = e + 1
                if line.isEmpty { continue }
                guard line[0] == UInt8(ascii: "{"), let j = try? JSONValue.parse(line), j.object != nil else {
                    if !torn { g.damaged.append("a line that is not a journal line") }
                    continue
                }
                if j[JournalFormat.versionKey] != nil {
                    if let h = try? JournalHeader.decode(j) {
                        g.last = h
                        g.endReason = nil
                    } else {
                        g.damaged.append("a damaged run header")
                    }
                    continue
                }
                let name = j["event"]?.string
                if name == "progress" || name == "end" {
                    var fresh: StatusCounts?
                    if let c = j["tasks"], let counts = counts(c) {
                        fresh = counts
                        if let r = j["run"]?.int, r >= 1 { g.runs = r }
                    } else if name == "end", g.last == first, let counts = counts(j) {
                        fresh = counts  // a journal before journal-wide counts: the first run's own
                    }
                    if let fresh {
                        (g.counts, g.finishedSince, g.rerunsSince) = (fresh, StatusCounts(), 0)
                    }
                }
                do throws(JournalEvent.LineProblem) {
                    switch try JournalEvent.decode(j) {
                    case .end(let e): g.endReason = e.reason
                    case .completed(let r, let of, let attempt):
                        guard let status = TaskStatus(name: r.status), status.isFinished else { break }
                        if of == nil && attempt == nil { g.finishedSince[status] += 1 } else { g.rerunsSince += 1 }
                    default: break
                    }
                } catch {
                    g.damaged.append(error.description)
                }
            }
        }
        return g
    }

    /// Counts from `{"total":..,"ok":..,...}`; nil when one is missing or out of range.
    static func counts(_ j: JSONValue) -> StatusCounts? {
        var c = StatusCounts()
        for s in TaskStatus.allCases {
            guard let v = j[s.description]?.int, (0...JournalEvent.maxID).contains(v) else { return nil }
            c[s] = v
        }
        return c
    }

    /// The header keys before the first one that does not fit in `bytes` (host, pid, started, kind...).
    static func leadingHeader(_ bytes: [UInt8]) -> JournalHeader? {
        bytes.withUnsafeBufferPointer { b -> JournalHeader? in
            guard var scan = try? JSONObjectScanner(b) else { return nil }
            var o: [String: JSONValue] = [:]
            while let key = try? scan.next() {
                let k = String(decoding: key, as: UTF8.self)
                guard let v = try? scan.value() else { break }
                o[k] = v
            }
            return try? JournalHeader.decode(.object(o))
        }
    }

    /// The journal `attach latest` means: the newest whose ppdash runs here, else the newest.
    public static func latest(in directory: String, host: String = SystemFacts.hostName) -> String? {
        let all = (try? files(in: directory)) ?? []
        for p in all.prefix(50) {
            if let g = try? glance(p), state(of: g, host: host).isRunningHere { return p }
        }
        return all.first
    }
}
