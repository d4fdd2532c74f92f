// Small system facts the journal needs: who and where we are, whether a process or a process group lives.
import Foundation
import PPKit

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Facts about this process and host, and probes of other processes.
public enum SystemFacts {
    /// This host's name as `gethostname` gives it.
    public static var hostName: String { PPKit.hostName() }

    /// The effective user's login name (else `$USER`, else the uid).
    public static var userName: String {
        if let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return ProcessInfo.processInfo.environment["USER"] ?? String(geteuid())
    }

    /// The login name of `uid`, or the number.
    public static func userName(of uid: UInt32) -> String {
        if let pw = getpwuid(uid_t(uid)), let name = pw.pointee.pw_name { return String(cString: name) }
        return "uid \(uid)"
    }

    public static var uid: UInt32 { UInt32(geteuid()) }
    public static var pid: Int32 { getpid() }

    /// Whether a process with this pid exists (ours or not).
    public static func processExists(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    /// Whether `pid` is alive and looks like ppdash (its command line names it), so a reused pid is not taken for it.
    public static func isPPDash(_ pid: Int32) -> Bool {
        guard processExists(pid) else { return false }
        #if os(Linux)
            guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return true }
            let argv0 = raw.split(separator: 0).first.map { String(decoding: $0, as: UTF8.self) } ?? ""
            if isZombie(pid) { return false }
            return argv0.hasSuffix("ppdash") || argv0.contains("ppdash")
        #else
            return true
        #endif
    }

    /// A zombie still answers kill(pid, 0); it runs nothing.
    static func isZombie(_ pid: Int32) -> Bool {
        #if os(Linux)
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return false }
            let rest = stat[stat.index(after: close)...].drop { $0 == " " }
            return rest.first == "Z"
        #else
            return false
        #endif
    }

    /// Whether any process of process group `pgid` is alive (zombie leaders with no live member count as gone).
    ///
    /// With `startedAt` (when the task was started), a group whose leader started at another time is someone
    /// else's that reused the number (Linux: a group id is only reused once its leader and members are all gone).
    public static func processGroupAlive(_ pgid: Int32, startedAt: Timestamp? = nil) -> Bool {
        guard pgid > 1 else { return false }
        guard kill(-pgid, 0) == 0 || errno == EPERM else { return false }
        #if os(Linux)
            // Only a zombie leader left (its parent, the killed ppdash, never reaped it): gone for our purpose.
            let members = groupMembers(pgid)
            if !members.isEmpty && members.allSatisfy({ isZombie($0) }) { return false }
            if let startedAt, let leader = processStart(pgid), abs(leader.seconds - startedAt.seconds) > 5 {
                return false
            }
        #endif
        return true
    }

    /// When a process started (Linux: boot time plus its start in clock ticks), or nil.
    public static func processStart(_ pid: Int32) -> Timestamp? {
        #if os(Linux)
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")"),
                let procStat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
                let btimeLine = procStat.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
                let btime = Double(btimeLine.dropFirst(6))
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 19, let ticks = Double(fields[19]) else { return nil }
            let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
            return Timestamp(seconds: btime + ticks / max(1, hz))
        #else
            return nil
        #endif
    }

    /// The pids of a process group, from /proc (Linux); empty elsewhere.
    public static func groupMembers(_ pgid: Int32) -> [Int32] {
        #if os(Linux)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
            var out: [Int32] = []
            for name in names {
                guard let pid = Int32(name),
                    let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                    let close = stat.lastIndex(of: ")")
                else { continue }
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                if fields.count > 2, Int32(fields[2]) == pgid { out.append(pid) }
            }
            return out
        #else
            return []
        #endif
    }

    /// A one-line description of what a process group runs (`sleep 30`), for orphan reports.
    public static func describeGroup(_ pgid: Int32) -> String {
        #if os(Linux)
            let members = groupMembers(pgid).sorted()
            let names = members.compactMap { pid -> String? in
                guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !raw.isEmpty else {
                    return nil
                }
                return raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
            }
            return names.prefix(2).joined(separator: "; ")
        #else
            return ""
        #endif
    }

    /// SIGTERM to each group, up to `grace` seconds for them to go, then SIGKILL; returns the groups still alive.
    @discardableResult
    public static func stopProcessGroups(_ groups: [Int32], grace: Double = 2) -> [Int32] {
        let groups = groups.filter { $0 > 1 }
        for g in groups { kill(-g, SIGTERM) }
        let end = Date().addingTimeInterval(grace)
        var alive = groups.filter { processGroupAlive($0) }
        while !alive.isEmpty && Date() < end {
            usleep(20_000)
            alive = alive.filter { processGroupAlive($0) }
        }
        for g in alive { kill(-g, SIGKILL) }
        if !alive.isEmpty { usleep(50_000) }
        return alive.filter { processGroupAlive($0) }
    }

    /// The text of errno `code`.
    public static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
}
