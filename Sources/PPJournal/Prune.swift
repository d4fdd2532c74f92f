// `ppdash ls --prune`: removes finished journals with their spools, sockets and registry entries.
import Foundation
import Glibc
import PPKit

/// Removes finished journals; never a running or an interrupted one.
public enum JournalPruning {
    public struct Result: Sendable {
        /// What was removed, one line each.
        public var removed: [String] = []
        public var failed: [(String, String)] = []
        public var removedJournals = 0
        public var kept = 0
        public var keptRunning = 0
    }

    /// Removes the finished journals of `directory` past the newest `keep`, and with `olderThanDays` only those
    /// unchanged for that long. A registered journal (`--journal FILE` elsewhere) loses its registry entry; its file
    /// stays where its user put it.
    public static func prune(
        directory: String, keep: Int, olderThanDays: Double?, now: Timestamp, host: String = SystemFacts.hostName
    ) throws(JournalListing.DirectoryError) -> Result {
        var result = Result()
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            if !FileManager.default.fileExists(atPath: directory) { return result }
            throw JournalListing.DirectoryError(description: "cannot read the directory \(directory): \(describe(error))")
        }
        // Registry entries (symlinks) by the journal they name; journals kept here by name.
        var links: [String: [String]] = [:]
        var journals = [(name: String, path: String, registered: Bool)]()
        for name in names where name.hasSuffix(JournalFormat.suffix) && !name.hasPrefix(".") {
            let p = directory + "/" + name
            var st = stat()
            guard lstat(p, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                let target = JournalListing.resolve(p)
                if access(target, F_OK) != 0 {
                    // The journal it named is gone: the entry goes too.
                    if unlink(p) == 0 { result.removed.append("\(p) (registry entry of a journal that is gone)") }
                    continue
                }
                if links[target] == nil { journals.append((name, target, true)) }
                links[target, default: []].append(p)
            } else {
                journals.append((name, p, false))
            }
        }
        journals.sort { $0.name > $1.name }
        var finishedSeen = 0
        for (_, path, registered) in journals {
            let s = JournalListing.summary(of: path, host: host)
            guard s.problem == nil, case .finished = s.state else {
                result.kept += 1
                if s.problem == nil { result.keptRunning += 1 }
                continue
            }
            finishedSeen += 1
            let oldEnough = olderThanDays.map { s.modified.seconds <= now.seconds - $0 * 86400 } ?? true
            guard finishedSeen > keep, oldEnough else {
                result.kept += 1
                continue
            }
            if registered {
                for l in links[path] ?? [] where unlink(l) == 0 {
                    result.removed.append("\(l) (registry entry; the journal \(path) stays: you named it)")
                }
                result.removedJournals += 1
                continue
            }
            // Not while a ppdash takes it up again (resume holds the lock).
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                result.kept += 1
                result.keptRunning += 1
                continue
            }
            if unlink(path) != 0 {
                result.failed.append((path, SystemFacts.errorText(errno)))
                continue
            }
            result.removed.append(path)
            result.removedJournals += 1
            let spool = JournalFormat.spoolPath(forJournal: path)
            if FileManager.default.fileExists(atPath: spool) {
                do {
                    try FileManager.default.removeItem(atPath: spool)
                    result.removed.append(spool)
                } catch {
                    result.failed.append((spool, describe(error)))
                }
            }
            let socket = JournalFormat.socketPath(forJournal: path)
            var st = stat()
            if lstat(socket, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK, unlink(socket) == 0 {
                result.removed.append(socket)
            }
            for l in links[path] ?? [] where unlink(l) == 0 { result.removed.append(l) }
        }
        return result
    }
}
