// `ppdash ls`: recent journals with their state (running, finished, interrupted), counts and start time.
import Foundation
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
}

/// One line of `ppdash ls`.
public struct JournalSummary: Sendable {
    public var path: String
    public var state: JournalState
    public var started: Timestamp
    public var counts: StatusCounts
    public var runs: Int
    public var header: JournalHeader
    /// Why the journal could not be read, when it could not (the line says so instead of counts).
    public var problem: String?
}

/// Finds and summarises journals.
public enum JournalListing {
    /// The state of a read journal, seen from `host`; `isPPDash` probes a local pid (injectable for tests).
    public static func state(
        of c: JournalContents, host: String = SystemFacts.hostName, isPPDash: (Int32) -> Bool = SystemFacts.isPPDash
    ) -> JournalState {
        let last = c.lastRun
        if let reason = last.endReason { return .finished(reason: reason) }
        if last.header.host != host { return .runningElsewhere(host: last.header.host, pid: last.header.pid) }
        return isPPDash(last.header.pid) && last.header.pid != SystemFacts.pid ? .running(pid: last.header.pid) : .interrupted
    }

    /// Journal files in `directory`, newest first (by name, which starts with the start time, then by mtime).
    public static func files(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let paths = names.filter { $0.hasSuffix(JournalFormat.suffix) }.map { directory + "/" + $0 }
        func mtime(_ p: String) -> Date {
            ((try? FileManager.default.attributesOfItem(atPath: p))?[.modificationDate] as? Date) ?? .distantPast
        }
        return paths.sorted { a, b in
            let (na, nb) = ((a as NSString).lastPathComponent, (b as NSString).lastPathComponent)
            return na != nb ? na > nb : mtime(a) > mtime(b)
        }
    }

    /// Summaries of the newest `limit` journals in `directory`.
    public static func list(directory: String, limit: Int = 20, host: String = SystemFacts.hostName) -> [JournalSummary] {
        files(in: directory).prefix(limit).map { summary(of: $0, host: host) }
    }

    /// One journal's summary; a journal that cannot be read says why.
    public static func summary(of path: String, host: String = SystemFacts.hostName) -> JournalSummary {
        do {
            let c = try JournalReader.skim(path)
            return JournalSummary(
                path: path, state: state(of: c, host: host), started: c.runs[0].header.started, counts: c.counts,
                runs: c.runs.count, header: c.runs[0].header, problem: nil)
        } catch {
            let header = JournalHeader(kind: "?", ppdashVersion: "?", engines: [], started: Timestamp(microseconds: 0))
            return JournalSummary(
                path: path, state: .interrupted, started: Timestamp(microseconds: 0), counts: StatusCounts(), runs: 0,
                header: header, problem: error.message)
        }
    }

    /// The journal `attach latest` means: the newest whose ppdash runs here, else the newest.
    public static func latest(in directory: String, host: String = SystemFacts.hostName) -> String? {
        let all = files(in: directory)
        for p in all.prefix(50) {
            if let c = try? JournalReader.skim(p), state(of: c, host: host).isRunningHere { return p }
        }
        return all.first
    }
}
