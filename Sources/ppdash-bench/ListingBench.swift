// `ppdash ls` over a directory holding a large journal, and `ppdash resume --dry-run` of a big journal: the real
// binary as a child, its wall time and its max RSS from wait4's rusage.
import Foundation
import Glibc
import PPJournal
import PPKit
import PPSystem

enum ListingBench {
    /// The real `ppdash ls --dir DIR` run as a child under GNU time, over a new temporary directory holding a
    /// journal of about `bytes` (tasks with 1 KB of stdout each) and a small one, `runs` times: the median wall
    /// seconds, the largest max RSS (wait4's rusage, as time reports it), and the big journal's task count. The
    /// directory is removed.
    static func measure(bytes: Int, runs: Int) throws -> (seconds: Double, maxRSS: Double, tasks: Int) {
        let ppdash = try ppdashBeside()
        let dir = NSTemporaryDirectory() + "/ppdash-bench-ls-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let header = JournalHeader(kind: "run", ppdashVersion: "bench", engines: ["local:4"], template: "echo {}")
        let tasks = try write(dir + "/20260101-000000-bench-1.jsonl", header: header, bytes: bytes)
        _ = try write(dir + "/20260102-000000-bench-2.jsonl", header: header, bytes: 1)
        var times = [Double]()
        var rss = 0
        for _ in 0..<runs {
            let r = try timed([ppdash, "ls", "--dir", dir], env: ["TERM": "dumb"], stdout: dir + "/ls.out")
            guard r.code == 0 else { throw BenchError("ppdash ls exited \(r.code)") }
            // The big journal's line: its task count in the TASKS column, as its end line says.
            let out = (try? String(contentsOfFile: dir + "/ls.out", encoding: .utf8)) ?? ""
            guard out.split(separator: "\n").contains(where: { $0.contains("bench-1") && $0.contains(" \(tasks) ") }) else {
                throw BenchError("ppdash ls read the bench journal wrong:\n\(out)")
            }
            times.append(r.seconds)
            rss = max(rss, r.maxRSS)
        }
        times.sort()
        return (times[times.count / 2], Double(rss), tasks)
    }

    /// `ppdash resume J --dry-run` over a journal of `count` tasks (format 2, as `run` writes it: a `submitted`
    /// line with the arguments and a compact `completed` line per task) killed with its last `unfinished` tasks
    /// never completed: (max RSS bytes, seconds, journal bytes). The dry run reads the whole journal (the reader's
    /// table), plans, prints the unfinished tasks' commands and runs nothing.
    static func resumeDryRun(count: Int, unfinished: Int) throws -> (maxRSS: Double, seconds: Double, bytes: Int) {
        let ppdash = try ppdashBeside()
        let dir = NSTemporaryDirectory() + "/ppdash-bench-resume-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/20260101-000000-bench-resume.jsonl"
        var group = ArgGroup()
        try group.appendRange(1, count)
        var header = JournalHeader(
            kind: "run", ppdashVersion: "bench", engines: ["local:4"], template: "echo {}", arguments: [group])
        header.pid = Int32.max  // no such process: the run was killed
        header.marker = nil
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BenchError("cannot write \(path): \(SystemFacts.errorText(errno))") }
        var out = [UInt8]()
        var written = 0
        func flush() throws {
            let n = out.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }
            guard n == out.count else { throw BenchError("cannot write \(path)") }
            written += n
            out.removeAll(keepingCapacity: true)
        }
        out.append(contentsOf: Array((header.jsonLine() + "\n").utf8))
        out.append(contentsOf: Array("{\"event\":\"engine\",\"engine\":0,\"kind\":\"local\",\"host\":\"\(header.host)\"}\n".utf8))
        out.append(contentsOf: Array("{\"event\":\"batch\",\"batch\":1,\"label\":\"echo {}\"}\n".utf8))
        let t0 = header.started.microseconds
        for id in 1...count {
            out.append(
                contentsOf: Array("{\"event\":\"submitted\",\"id\":\(id),\"batch\":1,\"seq\":\(id),\"command\":\"echo \(id)\",\"args\":[\"\(id)\"]}\n".utf8))
            if id <= count - unfinished {
                let us = t0 + Int64(id) * 10
                out.append(
                    contentsOf: Array(
                        "{\"event\":\"completed\",\"id\":\(id),\"command\":\"echo \(id)\",\"args\":[\"\(id)\"],\"engine\":0,\"status\":\"ok\",\"exit\":0,\"submitted_us\":\(t0),\"started_us\":\(us),\"completed_us\":\(us + 5),\"stdout\":\"\(id)\\n\"}\n"
                            .utf8))
            }
            if out.count >= 4 << 20 { try flush() }
        }
        try flush()
        close(fd)
        let r = try timed([ppdash, "resume", path, "--dry-run"], env: ["TERM": "dumb", "XDG_STATE_HOME": dir], stdout: dir + "/out")
        guard r.code == 0 else { throw BenchError("ppdash resume --dry-run exited \(r.code)") }
        let lines = ((try? String(contentsOfFile: dir + "/out", encoding: .utf8)) ?? "").split(separator: "\n")
        guard lines.count == unfinished, lines.last == "echo \(count)" else {
            throw BenchError("ppdash resume --dry-run printed \(lines.count) commands, not \(unfinished)")
        }
        return (Double(r.maxRSS), r.seconds, written)
    }

    /// Runs `argv` under GNU time (`/usr/bin/time`, which forks: the child's max RSS in wait4's rusage is its own,
    /// not this process's, as a child spawned by vfork would have), stdout to `stdout`: (exit code, wall seconds,
    /// max RSS bytes).
    static func timed(_ argv: [String], env: [String: String], stdout: String) throws -> (code: Int32, seconds: Double, maxRSS: Int) {
        let time = "/usr/bin/time"
        guard access(time, X_OK) == 0 else { throw BenchError("this row needs GNU time (\(time)) to read the child's rusage") }
        let err = stdout + ".time"
        let t0 = SystemTime.monotonicSeconds()
        let p = try BenchChild.start([time, "-f", "PPBENCH %M"] + argv, env: env, stdout: stdout, stderr: err)
        let status = p.child.wait()
        let seconds = SystemTime.monotonicSeconds() - t0
        let code = status?.exitCode ?? status?.signal.map { 128 + $0 } ?? -1
        let text = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("PPBENCH ") }),
            let kib = Int(line.dropFirst(8).trimmingCharacters(in: .whitespaces))
        else { throw BenchError("no rusage from \(time): \(text)") }
        return (code, seconds, kib * 1024)
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
