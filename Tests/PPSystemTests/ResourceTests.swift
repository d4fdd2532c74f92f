import Glibc
import PPSystem
import Testing

/// A /proc/PID/stat line with the fields the readers use: ppid, pgrp, utime, stime, starttime, rss.
func statLine(pid: Int32, name: String = "sh", parent: Int32, utime: Int64, stime: Int64, rss: Int64) -> String {
    // After ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    // priority nice threads itreal starttime vsize rss ...
    "\(pid) (\(name)) S \(parent) \(pid) \(pid) 0 -1 4194560 10 0 0 0 \(utime) \(stime) 7 7 20 0 1 0 12345 10000000 \(rss) 184467440"
}

@Suite("Resource use: rusage, process trees, the host")
struct ResourceTests {
    @Test("stat lines: utime+stime and rss are read, also with ) and spaces in the name; a short line has none")
    func statFields() throws {
        let s = try #require(ProcessStat(pid: 42, text: statLine(pid: 42, name: "a) (b c", parent: 1, utime: 250, stime: 50, rss: 2560)))
        #expect(s.cpuTicks == 300 && s.rssPages == 2560 && s.parent == 1 && s.name == "a) (b c")
        #expect(s.startTicks == 12345)
        // Negative or missing figures never go below zero or trap.
        let neg = try #require(ProcessStat(pid: 1, text: statLine(pid: 1, parent: 0, utime: -5, stime: -5, rss: -9)))
        #expect(neg.cpuTicks == 0 && neg.rssPages == 0)
        let short = "7 (x) S 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 0 0 0 0 99"
        let s2 = try #require(ProcessStat(pid: 7, text: short))
        #expect(s2.cpuTicks == 0 && s2.rssPages == 0)
    }

    @Test("a tree's sum: the root and every descendant, not its siblings; cycles and missing roots are safe")
    func treeSums() throws {
        func p(_ pid: Int32, _ parent: Int32, _ ticks: Int64, _ rss: Int64) -> ProcessStat {
            ProcessStat(pid: pid, text: statLine(pid: pid, parent: parent, utime: ticks, stime: 0, rss: rss))!
        }
        let all = [
            p(10, 1, 100, 10), p(11, 10, 50, 20), p(12, 11, 25, 30), p(13, 10, 5, 40),  // tree of 10
            p(20, 1, 1000, 1000),  // a sibling
            p(30, 31, 1, 1), p(31, 30, 1, 1),  // a cycle (cannot happen, must not hang)
        ]
        let sums = ProcessTreeUsage.sum(roots: [10, 11, 30, 99], in: all, at: 0)
        let page = ProcessTreeUsage.pageSize
        #expect(sums[10]?.cpuTicks == 180 && sums[10]?.rssBytes == 100 * page && sums[10]?.processes == 4)
        #expect(sums[11]?.cpuTicks == 75 && sums[11]?.processes == 2)
        #expect(sums[30]?.processes == 2)
        #expect(sums[99] == nil)
        #expect(ProcessTreeUsage.sum(roots: [], in: all, at: 0).isEmpty)
    }

    @Test("CPU percent between readings: ticks over wall time; same instant nil; fewer ticks later clamps to 0")
    func cpuPercent() {
        let hz = ProcessTreeUsage.ticksPerSecond
        let a = ProcessTreeUsage(cpuTicks: 0, rssBytes: 0, processes: 1, at: 0)
        let b = ProcessTreeUsage(cpuTicks: Int64(hz * 1.5), rssBytes: 0, processes: 1, at: 1_000_000_000)
        #expect(abs((b.cpuPercent(since: a) ?? 0) - 150) < 1)
        #expect(a.cpuPercent(since: a) == nil)
        #expect(a.cpuPercent(since: b) == nil)  // earlier "now": no figure
        let c = ProcessTreeUsage(cpuTicks: 0, rssBytes: 0, processes: 1, at: 2_000_000_000)
        #expect(c.cpuPercent(since: b) == 0)
    }

    @Test("host load and memory from /proc texts; missing fields give nil; this host reads")
    func host() throws {
        let h = try #require(
            HostLoad(
                loadavg: "3.52 2.10 1.00 2/345 6789\n",
                meminfo: "MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:    8000000 kB\n", cpus: 8))
        #expect(h.load1 == 3.52 && h.totalBytes == 16_000_000 * 1024 && h.availableBytes == 8_000_000 * 1024 && h.cpus == 8)
        #expect(HostLoad(loadavg: "x", meminfo: "MemTotal: 1 kB\nMemAvailable: 1 kB", cpus: 1) == nil)
        #expect(HostLoad(loadavg: "1.0", meminfo: "MemTotal: 1 kB", cpus: 1) == nil)
        #expect(HostLoad(load1: .nan, availableBytes: -1, totalBytes: -1, cpus: -1) == HostLoad(load1: 0, availableBytes: 0, totalBytes: 0, cpus: 0))
        let here = try #require(HostLoad.current())
        #expect(here.totalBytes > 0 && here.availableBytes <= here.totalBytes && here.cpus > 0)
    }

    @Test("wait4's rusage of a reaped child: CPU seconds and peak memory as /usr/bin/time -v reports them")
    func childUsage() throws {
        // dd touches its buffer, 32 MiB over this process's own peak (Linux counts the spawner's memory in a vforked
        // child's peak: only a figure above ours is the task's): the peak is at least that; copying costs CPU.
        let peak = try #require(ResourceUsage.selfPeakRSS())
        let mib = (peak >> 20) + 32
        guard mib <= 512 else { return }  // a test process this big: not worth the memory
        let child = try SpawnPlan(
            executable: "/bin/sh", arguments: ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=\(mib)M count=4 2>/dev/null"]
        ).spawn()
        #expect(child.usage == nil)
        #expect(child.wait() == .exited(0))
        let u = try #require(child.usage)
        // Other suites run beside this one in the same process: when its peak passed the child's meanwhile, the
        // child's figure cannot be told from ours and is rightly unknown; else it must be there.
        let peakAfter = ResourceUsage.selfPeakRSS() ?? Int64.max
        if peakAfter < Int64(mib) << 20 {
            #expect((u.maxRSSBytes ?? 0) >= Int64(mib) << 20, "\(u)")
        } else {
            #expect(u.maxRSSBytes == nil || u.maxRSSBytes! >= Int64(mib) << 20, "\(u), our peak \(peakAfter)")
        }
        // A small task under this process's peak: its figure cannot be told apart from ours, so it is unknown.
        let small = try SpawnPlan(executable: "/bin/true", arguments: ["true"]).spawn()
        small.wait()
        #expect(small.usage != nil && small.usage?.maxRSSBytes == nil, "\(String(describing: small.usage))")
        #expect(u.userSeconds + u.systemSeconds > 0, "\(u)")
        #expect(u.userSeconds < 60 && u.systemSeconds < 60)
        // The figures from a rusage: microseconds and KiB.
        var r = rusage()
        r.ru_utime = timeval(tv_sec: 1, tv_usec: 250_000)
        r.ru_stime = timeval(tv_sec: 0, tv_usec: 500_000)
        r.ru_maxrss = 2048
        #expect(ResourceUsage(r) == ResourceUsage(userSeconds: 1.25, systemSeconds: 0.5, maxRSSBytes: 2 << 20))
        #expect(ResourceUsage(userSeconds: -1, systemSeconds: .infinity, maxRSSBytes: -5) == ResourceUsage(userSeconds: 0, systemSeconds: 0, maxRSSBytes: 0))
        // At or below the spawner's peak the figure may be the spawner's: unknown. Above it: the task's.
        #expect(ResourceUsage(r, spawnerPeak: 2 << 20).maxRSSBytes == nil)
        #expect(ResourceUsage(r, spawnerPeak: 1 << 20).maxRSSBytes == 2 << 20)
    }

    @Test("a live tree read from /proc: a shell and its two children are one tree")
    func liveTree() throws {
        let shell = try Shell("sleep 30 & sleep 30 & wait")
        defer {
            _ = shell.child.sendToGroup(signal: SIGKILL)
            shell.child.wait()
        }
        #expect(eventually { ProcessTreeUsage.read(roots: [shell.child.pid])[shell.child.pid]?.processes == 3 })
        let u = try #require(ProcessTreeUsage.read(roots: [shell.child.pid])[shell.child.pid])
        #expect(u.rssBytes > 0)
    }
}
