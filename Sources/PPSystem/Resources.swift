// What a task and a host use: the reaped child's rusage (as `/usr/bin/time -v` reports it), a live process tree's
// CPU and resident memory from /proc, the host's load and available memory.
import CPPSys
import Glibc

/// A finished process's resource use, from wait4's rusage: its own and that of the children it waited for.
public struct ResourceUsage: Sendable, Hashable, Codable {
    /// CPU seconds in user mode ("User time (seconds)").
    public var userSeconds: Double
    /// CPU seconds in the kernel ("System time (seconds)").
    public var systemSeconds: Double
    /// Peak resident set size in bytes ("Maximum resident set size", which time prints in KiB); nil when it cannot
    /// be told (see `init(_:spawnerPeak:)`).
    public var maxRSSBytes: Int64?

    public init(userSeconds: Double, systemSeconds: Double, maxRSSBytes: Int64?) {
        // Never negative or not a number, whatever a peer sent.
        self.userSeconds = userSeconds.isFinite ? max(0, userSeconds) : 0
        self.systemSeconds = systemSeconds.isFinite ? max(0, systemSeconds) : 0
        self.maxRSSBytes = maxRSSBytes.map { max(0, $0) }
    }

    /// From a rusage (ru_maxrss is in KiB on Linux).
    ///
    /// Linux counts in a child's ru_maxrss the memory it had before its exec: for a child spawned by vfork (as
    /// posix_spawn does) that is the spawner's whole resident set. So a figure at or below `spawnerPeak` (the
    /// spawner's own peak, VmHWM) may be ours, not the task's: it is left unknown (nil). Above it, it is the task's.
    public init(_ r: rusage, spawnerPeak: Int64? = nil) {
        let rss = Int64(r.ru_maxrss).multipliedReportingOverflow(by: 1024).partialValue
        self.init(
            userSeconds: Double(r.ru_utime.tv_sec) + Double(r.ru_utime.tv_usec) / 1e6,
            systemSeconds: Double(r.ru_stime.tv_sec) + Double(r.ru_stime.tv_usec) / 1e6,
            maxRSSBytes: spawnerPeak.map { rss > $0 ? rss : nil } ?? rss)
    }

    /// This process's peak resident set size (VmHWM in /proc/self/status), bytes; nil when unreadable.
    ///
    /// Read after every shell task (its `ResourceUsage`), so it is one getrusage(2), not a read of /proc: Linux
    /// gives RUSAGE_SELF's ru_maxrss as the larger of VmHWM and the peak of the image this process was exec'd from
    /// (`preExecPeak`, fixed). Above that fixed figure it is VmHWM itself; at it (a big parent, a small ppdash) the
    /// status file is read as before.
    public static func selfPeakRSS() -> Int64? {
        var r = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &r) == 0 else { return statusPeakRSS() }
        let peak = Int64(r.ru_maxrss).multipliedReportingOverflow(by: 1024).partialValue
        return peak > preExecPeak ? peak : statusPeakRSS()
    }

    /// The figure ru_maxrss may hold that is not this image's (the exec'ing parent's peak), or 0 when ru_maxrss is
    /// this image's VmHWM. Found once: getrusage first, then VmHWM (which only grows), so a larger getrusage figure
    /// can only be the parent's.
    static let preExecPeak: Int64 = {
        var r = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &r) == 0 else { return Int64.max }
        let peak = Int64(r.ru_maxrss).multipliedReportingOverflow(by: 1024).partialValue
        guard let hwm = statusPeakRSS() else { return Int64.max }
        return peak > hwm ? peak : 0
    }()

    /// VmHWM from /proc/self/status, bytes (read as bytes: a String split of the whole file cost ~600,000
    /// instructions); nil when unreadable.
    static func statusPeakRSS() -> Int64? {
        SystemFacts.contents(of: "/proc/self/status").flatMap(vmHWM(inStatus:))
    }

    /// The VmHWM line of a /proc/PID/status text, in bytes; nil without one, or with no number (at most 15 digits).
    static func vmHWM(inStatus raw: [UInt8]) -> Int64? {
        let key = Array("VmHWM:".utf8)
        var i = 0
        while i < raw.count {
            let end = raw[i...].firstIndex(of: 10) ?? raw.count
            if end - i > key.count && raw[i..<(i + key.count)].elementsEqual(key) {
                var kib: Int64 = 0
                var digits = 0
                for b in raw[(i + key.count)..<end] {
                    if b == 32 || b == 9 {
                        if digits > 0 { break }
                        continue
                    }
                    guard b >= 48 && b <= 57 else { break }
                    if digits == 15 { return nil }  // no real figure: never an overflow
                    kib = kib * 10 + Int64(b - 48)
                    digits += 1
                }
                return digits > 0 ? kib * 1024 : nil
            }
            i = end + 1
        }
        return nil
    }
}

/// What a live process tree uses now, and CPU% between two readings.
public struct ProcessTreeUsage: Sendable, Hashable {
    /// CPU ticks of every live process of the tree (exited children's time is not in it: it is in the rusage).
    public var cpuTicks: Int64
    /// Resident memory of every process of the tree, summed.
    public var rssBytes: Int64
    /// How many processes the tree holds.
    public var processes: Int
    /// When it was read (monotonic nanoseconds).
    public var at: Int64

    public init(cpuTicks: Int64, rssBytes: Int64, processes: Int, at: Int64) {
        (self.cpuTicks, self.rssBytes, self.processes, self.at) = (cpuTicks, rssBytes, processes, at)
    }

    public static let pageSize = Int64(max(1, sysconf(Int32(_SC_PAGESIZE))))
    public static let ticksPerSecond = Double(max(1, sysconf(Int32(_SC_CLK_TCK))))

    /// The tree rooted at each of `roots` (the root and all its descendants by parent pid), summed, from one pass
    /// over `samples` (cost: the processes on the host, whatever the number of roots).
    public static func sum(roots: [Int32], in samples: [ProcessStat], at: Int64) -> [Int32: ProcessTreeUsage] {
        guard !roots.isEmpty else { return [:] }
        var children = [Int32: [Int]]()
        var byPid = [Int32: Int]()
        for (i, s) in samples.enumerated() {
            children[s.parent, default: []].append(i)
            byPid[s.pid] = i
        }
        var out = [Int32: ProcessTreeUsage]()
        for root in roots {
            guard let r = byPid[root] else { continue }
            var u = ProcessTreeUsage(cpuTicks: 0, rssBytes: 0, processes: 0, at: at)
            var stack = [r]
            var seen = Set<Int>()
            while let i = stack.popLast() {
                guard seen.insert(i).inserted else { continue }
                let s = samples[i]
                u.cpuTicks &+= s.cpuTicks
                u.rssBytes &+= s.rssPages.multipliedReportingOverflow(by: pageSize).partialValue
                u.processes += 1
                stack.append(contentsOf: children[s.pid] ?? [])
            }
            out[root] = u
        }
        return out
    }

    /// The trees of `roots` now.
    public static func read(roots: [Int32]) -> [Int32: ProcessTreeUsage] {
        guard !roots.isEmpty else { return [:] }
        return sum(roots: roots, in: SystemFacts.processes(), at: SystemTime.monotonicNanoseconds())
    }

    /// CPU use between `earlier` and this reading, in percent of one core (200 = two cores busy); nil when the
    /// readings are the same instant. A tree whose processes exited in between can read less: never below 0.
    public func cpuPercent(since earlier: ProcessTreeUsage) -> Double? {
        let dt = Double(at - earlier.at) / 1e9
        guard dt > 0 else { return nil }
        let dticks = Double(cpuTicks - earlier.cpuTicks)
        return max(0, dticks / Self.ticksPerSecond / dt * 100)
    }
}

/// The host's load and memory: what a heartbeat carries and the engines pane shows per host.
public struct HostLoad: Sendable, Hashable, Codable {
    /// The 1-minute load average.
    public var load1: Double
    /// MemAvailable, bytes.
    public var availableBytes: Int64
    /// MemTotal, bytes.
    public var totalBytes: Int64
    /// Online CPUs.
    public var cpus: Int32

    public init(load1: Double, availableBytes: Int64, totalBytes: Int64, cpus: Int32) {
        self.load1 = load1.isFinite ? max(0, load1) : 0
        self.availableBytes = max(0, availableBytes)
        self.totalBytes = max(0, totalBytes)
        self.cpus = max(0, cpus)
    }

    /// From the texts of /proc/loadavg and /proc/meminfo; nil when either cannot be read.
    public init?(loadavg: String, meminfo: String, cpus: Int32) {
        guard let first = loadavg.split(separator: " ").first, let load = Double(first) else { return nil }
        var avail: Int64?
        var total: Int64?
        for line in meminfo.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let kib = Int64(parts[1]) else { continue }
            if parts[0] == "MemAvailable:" { avail = kib * 1024 }
            if parts[0] == "MemTotal:" { total = kib * 1024 }
        }
        guard let avail, let total else { return nil }
        self.init(load1: load, availableBytes: avail, totalBytes: total, cpus: cpus)
    }

    /// This host now, from /proc; nil where /proc cannot be read.
    public static func current() -> HostLoad? {
        guard let l = SystemFacts.contents(of: "/proc/loadavg"), let m = SystemFacts.contents(of: "/proc/meminfo")
        else { return nil }
        return HostLoad(
            loadavg: String(decoding: l, as: UTF8.self), meminfo: String(decoding: m, as: UTF8.self),
            cpus: Int32(clamping: sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

extension SystemFacts {
    /// Gives the heap's free memory back to the system (glibc's malloc_trim), so the resident set holds what is still
    /// in use: after a large transient (a big reply parsed and dropped), or before reading RSS for a figure.
    public static func trimHeap() { ppsys_trim_heap() }
}
