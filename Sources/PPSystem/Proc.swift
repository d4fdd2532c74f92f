// Facts about this process and host, and probes of other processes through /proc.
import Glibc

/// One line of /proc/PID/stat, the fields ppdash reads.
public struct ProcessStat: Sendable, Hashable {
    public var pid: Int32
    /// The command name (in parentheses in the file; it may hold spaces and parentheses itself).
    public var name: String
    /// R, S, D, Z (zombie: exited, not reaped) ...
    public var state: Character
    public var parent: Int32
    public var processGroup: Int32
    public var session: Int32
    /// Clock ticks after boot when it started.
    public var startTicks: Double
    /// CPU time so far, user plus system, in clock ticks (utime + stime).
    public var cpuTicks: Int64 = 0
    /// Resident pages (rss).
    public var rssPages: Int64 = 0

    public var isZombie: Bool { state == "Z" }

    /// Parses "pid (comm) state ppid pgrp session ... utime(14) stime(15) ... starttime(22) ... rss(24) ...".
    public init?(pid: Int32, text: String) {
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")") else { return nil }
        let f = text[text.index(after: close)...].split(separator: " ")
        guard f.count > 19, let s = f[0].first, let pp = Int32(f[1]), let g = Int32(f[2]), let sid = Int32(f[3]),
            let start = Double(f[19])
        else { return nil }
        (self.pid, name, state) = (pid, String(text[text.index(after: open)..<close]), s)
        (parent, processGroup, session, startTicks) = (pp, g, sid, start)
        if f.count > 21, let u = Int64(f[11]), let st = Int64(f[12]), let rss = Int64(f[21]) {
            (cpuTicks, rssPages) = (max(0, u) &+ max(0, st), max(0, rss))
        }
    }
}

/// Facts about this process and host, and probes of other processes.
public enum SystemFacts {
    /// This host's name as `gethostname` gives it.
    public static var hostName: String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, 255) == 0 else { return "localhost" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The effective user's login name (else `$USER`, else the uid).
    public static var userName: String {
        if let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return getenv("USER").map { String(cString: $0) } ?? String(geteuid())
    }

    /// The login name of `uid`, or the number.
    public static func userName(of uid: UInt32) -> String {
        if let pw = getpwuid(uid_t(uid)), let name = pw.pointee.pw_name { return String(cString: name) }
        return "uid \(uid)"
    }

    public static var uid: UInt32 { UInt32(geteuid()) }
    public static var pid: Int32 { getpid() }
    /// The running program's path (/proc/self/exe resolved), or nil.
    public static var executablePath: String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        return n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
    }

    /// The whole of a (small) file such as /proc/PID/cmdline, or nil.
    public static func contents(of path: String) -> [UInt8]? {
        guard let file = try? OwnedDescriptor.open(path, .readOnly) else { return nil }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while let n = try? chunk.withUnsafeMutableBytes({ try file.fd.read(into: $0) }) {
            if n == 0 { return out }
            out += chunk[0..<n]
        }
        return nil
    }

    /// /proc/PID/stat, parsed.
    public static func stat(of pid: Int32) -> ProcessStat? {
        contents(of: "/proc/\(pid)/stat").flatMap { ProcessStat(pid: pid, text: String(decoding: $0, as: UTF8.self)) }
    }

    /// The command line's words (empty for a zombie or a kernel thread), or nil if there is no such process.
    public static func commandLine(of pid: Int32) -> [String]? {
        contents(of: "/proc/\(pid)/cmdline").map { raw in
            raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// The environment variable that marks every process a ppdash run starts on this host (its tasks, its workers
    /// and what they start): set once per run at the process's start, before any thread (see `markThisRun`).
    public static let runMarkerVariable = "PPDASH_RUN"

    /// This process's run marker (inherited by every child), or nil.
    public static var runMarker: String? { getenv(runMarkerVariable).map { String(cString: $0) } }

    /// Gives this process a fresh run marker: host, pid, start time and 64 random bits. Call before any thread starts
    /// (setenv is not safe beside other threads' getenv).
    public static func markThisRun() {
        let tag = "\(hostName)-\(getpid())-\(String(SystemTime.wallMicroseconds(), radix: 36))-\(String(UInt64.random(in: 1...UInt64.max), radix: 36))"
        setenv(runMarkerVariable, tag, 1)
    }

    /// Live processes of this user whose environment carries one of `markers` as `PPDASH_RUN`: what a killed run
    /// left running here, found whether or not its journal recorded them (a task started just before the kill).
    public static func processes(markedWith markers: Set<String>) -> [ProcessStat] {
        guard !markers.isEmpty else { return [] }
        let prefix = Array((runMarkerVariable + "=").utf8)
        let me = getpid()
        return allPids().compactMap { pid -> ProcessStat? in
            guard pid != me, let env = contents(of: "/proc/\(pid)/environ") else { return nil }
            for entry in env.split(separator: 0) where entry.starts(with: prefix) {
                let value = String(decoding: entry.dropFirst(prefix.count), as: UTF8.self)
                guard markers.contains(value), let st = stat(of: pid), !st.isZombie else { return nil }
                return st
            }
            return nil
        }
    }

    /// The pids in /proc.
    public static func allPids() -> [Int32] {
        guard let dir = opendir("/proc") else { return [] }
        defer { closedir(dir) }
        var out: [Int32] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let pid = Int32(name) { out.append(pid) }
        }
        return out
    }

    /// Every process's stat line.
    public static func processes() -> [ProcessStat] { allPids().compactMap { stat(of: $0) } }

    /// Every process's stat line, read after this call began, from one pass over /proc shared with the threads that
    /// ask at about the same time: when 256 workers end together, their engines' settles share two or three passes
    /// instead of one each (each pass reads every process of the host).
    public static func processesReadNow() -> [ProcessStat] { SharedProcessTable.shared.read() }

    /// Whether a process with this pid exists (ours or not).
    public static func processExists(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    /// Whether `pid` is alive and looks like ppdash (its command line names it), so a reused pid is not taken for it.
    public static func isPPDash(_ pid: Int32) -> Bool {
        guard processExists(pid) else { return false }
        guard let argv = commandLine(of: pid) else { return true }
        if isZombie(pid) { return false }
        return (argv.first ?? "").contains("ppdash")
    }

    /// A zombie still answers kill(pid, 0); it runs nothing.
    public static func isZombie(_ pid: Int32) -> Bool { stat(of: pid)?.isZombie ?? false }

    /// Whether any process of process group `pgid` is alive (zombie leaders with no live member count as gone).
    ///
    /// With `startedAtSeconds` (when the task was started, seconds since the epoch), a group whose leader started
    /// at another time is someone else's that reused the number (a group id is only reused once its leader and
    /// members are all gone).
    public static func processGroupAlive(_ pgid: Int32, startedAtSeconds: Double?) -> Bool {
        guard pgid > 1 else { return false }
        guard kill(-pgid, 0) == 0 || errno == EPERM else { return false }
        // Only a zombie leader left (its parent, the killed ppdash, never reaped it): gone for our purpose.
        let members = groupMembers(pgid, includingZombies: true)
        if !members.isEmpty && members.allSatisfy({ isZombie($0) }) { return false }
        if let startedAtSeconds, let leader = processStartSeconds(pgid), abs(leader - startedAtSeconds) > 5 {
            return false
        }
        return true
    }

    /// When a process started, in seconds since the epoch (boot time plus its start in clock ticks), or nil.
    public static func processStartSeconds(_ pid: Int32) -> Double? {
        guard let st = stat(of: pid), let raw = contents(of: "/proc/stat") else { return nil }
        let text = String(decoding: raw, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
            let btime = Double(line.dropFirst(6))
        else { return nil }
        return btime + st.startTicks / max(1, Double(sysconf(Int32(_SC_CLK_TCK))))
    }

    /// The pids of a process group (zombies too unless told otherwise).
    public static func groupMembers(_ pgid: Int32, includingZombies: Bool = true) -> [Int32] {
        processes().filter { $0.processGroup == pgid && (includingZombies || !$0.isZombie) }.map(\.pid)
    }

    /// True when no live (non-zombie) process is left in group `pgid` (some sandboxes' init never reaps orphans).
    public static func processGroupGone(_ pgid: Int32) -> Bool {
        if kill(-pgid, 0) != 0 && errno == ESRCH { return true }
        return groupMembers(pgid, includingZombies: false).isEmpty
    }

    /// A one-line description of what a process group runs (`sleep 30`), for orphan reports.
    public static func describeGroup(_ pgid: Int32) -> String {
        let names = groupMembers(pgid).sorted().compactMap { pid -> String? in
            guard let argv = commandLine(of: pid), !argv.isEmpty else { return nil }
            return argv.joined(separator: " ")
        }
        return names.prefix(2).joined(separator: "; ")
    }

    /// SIGTERM to each group, up to `grace` seconds for them to go, then SIGKILL; returns the groups still alive.
    @discardableResult
    public static func stopProcessGroups(_ groups: [Int32], grace: Double = Timings.taskGrace) -> [Int32] {
        let groups = groups.filter { $0 > 1 }
        for g in groups { signalProcessGroup(g, SIGTERM) }
        let end = SystemTime.monotonicSeconds() + grace
        var alive = groups.filter { processGroupAlive($0, startedAtSeconds: nil) }
        while !alive.isEmpty && SystemTime.monotonicSeconds() < end {
            Timings.sleep(Timings.groupPoll)
            alive = alive.filter { processGroupAlive($0, startedAtSeconds: nil) }
        }
        for g in alive { signalProcessGroup(g, SIGKILL) }
        if !alive.isEmpty { Timings.sleep(Timings.afterKill) }
        return alive.filter { processGroupAlive($0, startedAtSeconds: nil) }
    }

    /// The process groups with a live member in session `sid`, but for the session leader's own: what a worker
    /// process (a session leader) started, still there after the worker died (a child that made its own session is
    /// not found).
    public static func groupsInSession(_ sid: Int32) -> [Int32] {
        guard sid > 1 else { return [] }
        var groups = Set<Int32>()
        for p in processesReadNow() where p.session == sid && p.processGroup != sid && !p.isZombie { groups.insert(p.processGroup) }
        return groups.sorted()
    }

    /// SIGKILL to each group, then up to `wait` seconds until no live member is left; returns the groups still there.
    @discardableResult
    public static func killProcessGroups(_ groups: [Int32], wait: Double = Timings.orphansGone) -> [Int32] {
        let groups = groups.filter { $0 > 1 }
        guard !groups.isEmpty else { return [] }
        for g in groups { signalProcessGroup(g, SIGKILL) }
        let end = SystemTime.monotonicSeconds() + wait
        var alive = groups.filter { !processGroupGone($0) }
        while !alive.isEmpty && SystemTime.monotonicSeconds() < end {
            Timings.sleep(Timings.groupPoll)
            for g in alive { signalProcessGroup(g, SIGKILL) }  // a member forked since the last signal
            alive = alive.filter { !processGroupGone($0) }
        }
        return alive
    }

    /// The text of errno `code` for a message, in words a person can act on where the C library's are jargon.
    public static func errorText(_ code: Int32) -> String {
        switch code {
        case ENOTTY: "not a terminal"
        case E2BIG: "the command line is too long for the system (over its argument size limit): pass long data in a file or on stdin"
        case EIO: "input/output error (the terminal or device is gone)"
        case ENOSPC: "no space left on the device"
        case EDQUOT: "disk quota exceeded"
        case ETXTBSY: "the program file is being written (text file busy)"
        default: String(cString: strerror(code))
        }
    }
}

/// The process table passes `SystemFacts.processesReadNow` shares. A caller waits for a pass that began after it
/// asked (a pass under way began before: its table could miss what changed since), and every caller waiting then
/// takes the same one.
final class SharedProcessTable: @unchecked Sendable {  // `began`, `done`, `scanning`, `table`: read and written with `mutex` held
    static let shared = SharedProcessTable()
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Passes begun, and the number of the last one done (its table is `table`).
    private var began = 0
    private var done = 0
    private var scanning = false
    private var table: [ProcessStat] = []
    private let scan: @Sendable () -> [ProcessStat]

    /// A process-wide one (`shared`), or one per test: never freed.
    init(scan: @escaping @Sendable () -> [ProcessStat] = { SystemFacts.processes() }) {
        self.scan = scan
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    /// Passes run so far (for tests).
    var passes: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return done
    }

    func read() -> [ProcessStat] {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let need = began + 1
        while done < need {
            if scanning {
                pthread_cond_wait(cond, mutex)
                continue
            }
            scanning = true
            began += 1
            let mine = began
            pthread_mutex_unlock(mutex)
            let t = scan()
            pthread_mutex_lock(mutex)
            table = t
            done = mine
            scanning = false
            pthread_cond_broadcast(cond)
        }
        return table
    }
}
