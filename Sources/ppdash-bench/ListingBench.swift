// `ppdash ls` over a directory holding a large journal: the time and the peak memory of listing it.
import Foundation
import Glibc
import PPJournal
import PPKit
import PPSystem

enum ListingBench {
    /// Peak resident bytes of this process since the last `resetPeak` (VmHWM).
    static func peakResident() -> Int {
        guard let raw = SystemFacts.contents(of: "/proc/self/status") else { return 0 }
        for line in String(decoding: raw, as: UTF8.self).split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
            return kb * 1024
        }
        return 0
    }

    /// Resets VmHWM to the current resident size (Linux: write 5 to /proc/self/clear_refs).
    static func resetPeak() {
        let fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = Glibc.write(fd, "5", 1)
        close(fd)
    }

    /// Writes a journal of about `bytes` (tasks with 1 KB of stdout each) and a small one in a new temporary
    /// directory, lists the directory as `ppdash ls` does, `runs` times; returns the median seconds, the peak
    /// memory growth while listing, and the big journal's task count. The directory is removed.
    static func measure(bytes: Int, runs: Int) throws -> (seconds: Double, peakGrowth: Double, tasks: Int) {
        let dir = NSTemporaryDirectory() + "/ppdash-bench-ls-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let header = JournalHeader(kind: "run", ppdashVersion: "bench", engines: ["local:4"], template: "echo {}")
        let tasks = try write(dir + "/20260101-000000-bench-1.jsonl", header: header, bytes: bytes)
        _ = try write(dir + "/20260102-000000-bench-2.jsonl", header: header, bytes: 1)
        var times = [Double]()
        var growth = 0
        for _ in 0..<runs {
            trimHeap()
            let before = residentBytes()
            resetPeak()
            let t0 = SystemTime.monotonicSeconds()
            let list = try JournalListing.list(directory: dir)
            times.append(SystemTime.monotonicSeconds() - t0)
            growth = max(growth, peakResident() - before)
            guard list.count == 2, list[1].counts?.total == tasks else {
                throw PPError(.invalidState, "ls read the bench journal wrong: \(list.map { $0.counts?.total ?? -1 })")
            }
        }
        times.sort()
        return (times[times.count / 2], Double(growth), tasks)
    }

    /// A finished journal of about `bytes`: returns its task count.
    private static func write(_ path: String, header: JournalHeader, bytes: Int) throws -> Int {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw PPError(.invalidState, "cannot write \(path): \(SystemFacts.errorText(errno))") }
        defer { close(fd) }
        var out = [UInt8]()
        var written = 0
        func flush() throws {
            let n = out.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }
            guard n == out.count else { throw PPError(.invalidState, "cannot write \(path)") }
            written += n
            out.removeAll(keepingCapacity: true)
        }
        out.append(contentsOf: Array((header.jsonLine() + "\n").utf8))
        out.append(contentsOf: Array("{\"event\":\"batch\",\"batch\":1,\"label\":\"echo {}\"}\n".utf8))
        let stdout = String(repeating: "x", count: 1000)
        var id = 0
        while written + out.count < bytes {
            id += 1
            out.append(
                contentsOf: Array(
                    ("{\"event\":\"submitted\",\"id\":\(id),\"batch\":1,\"seq\":\(id),\"command\":\"echo \(id)\",\"args\":[\"\(id)\"]}\n"
                        + "{\"event\":\"completed\",\"id\":\"\(id)\",\"seq\":\(id),\"batch\":1,\"args\":[\"\(id)\"],\"command\":\"echo \(id)\",\"engine\":0,\"host\":\"bench\",\"status\":\"ok\",\"exit\":0,\"signal\":null,\"submitted\":\"2026-01-01T00:00:00.000000Z\",\"started\":\"2026-01-01T00:00:00.000000Z\",\"completed\":\"2026-01-01T00:00:00.100000Z\",\"duration\":0.1,\"retries\":0,\"stdout\":\"\(stdout)\",\"stderr\":\"\",\"stdout_dropped\":0,\"stderr_dropped\":0,\"error\":null}\n")
                        .utf8))
            if out.count >= 4 << 20 { try flush() }
        }
        out.append(
            contentsOf: Array(
                "{\"event\":\"end\",\"reason\":\"done\",\"at\":\"2026-01-01T01:00:00.000000Z\",\"total\":\(id),\"ok\":\(id),\"error\":0,\"timeout\":0,\"aborted\":0,\"pending\":0,\"running\":0,\"run\":1,\"tasks\":{\"total\":\(id),\"pending\":0,\"running\":0,\"ok\":\(id),\"error\":0,\"aborted\":0,\"timeout\":0}}\n"
                    .utf8))
        try flush()
        return id
    }
}
