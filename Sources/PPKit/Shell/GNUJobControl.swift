// GNU parallel's job-control formats and rules, pure: the joblog's lines, --results' directory names, the exit
// status (with --halt's thresholds), -j's arithmetic.
import Foundation

// MARK: --joblog

/// GNU parallel's joblog: a header, then one tab-separated line per finished task, in completion order.
public enum Joblog {
    public static let header = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n"

    public struct Entry: Equatable, Sendable {
        public var seq: Int
        public var host: String
        /// Seconds since the epoch.
        public var start: Double
        public var runtime: Double
        public var send = 0
        public var receive: Int
        public var exitval: Int
        public var signal: Int
        public var command: String

        public init(
            seq: Int, host: String, start: Double, runtime: Double, send: Int = 0, receive: Int, exitval: Int, signal: Int,
            command: String
        ) {
            self.seq = seq
            self.host = host
            self.start = start
            self.runtime = runtime
            self.send = send
            self.receive = receive
            self.exitval = exitval
            self.signal = signal
            self.command = command
        }
    }

    /// One line as GNU parallel writes it: `%.3f` start, `%10.3f` run time, a newline in the command written as
    /// NUL (so a line is one task).
    public static func line(_ e: Entry) -> String {
        "\(e.seq)\t\(e.host)\t" + String(format: "%.3f\t%10.3f", e.start, e.runtime)
            + "\t\(e.send)\t\(e.receive)\t\(e.exitval)\t\(e.signal)\t"
            + e.command.replacingOccurrences(of: "\n", with: "\0") + "\n"
    }

    /// A finished task's entry. GNU's values: Exitval -1 when the task was killed for its time limit (or aborted
    /// while running, or could not start), Signal the signal that ended it.
    public static func entry(_ m: TaskMetadata, seq: Int, host: String) -> Entry {
        let start = m.started ?? m.completed ?? m.submitted
        var exitval = Int(m.exitStatus ?? 0)
        var signal = Int(m.signal ?? 0)
        switch m.status {
        case .timeout:
            exitval = -1
            if signal == 0 { signal = 15 }  // SIGTERM
        case .aborted:
            exitval = -1
        case .error where m.exitStatus == nil && m.signal == nil:
            exitval = -1
        default: break
        }
        return Entry(
            seq: seq, host: host, start: start.seconds, runtime: max(0, m.duration ?? 0), receive: m.stdout.totalBytes,
            exitval: exitval, signal: signal, command: m.text)
    }

    /// The tasks a joblog records, by Seq: whether each (its last line) succeeded (Exitval 0, Signal 0).
    /// Lines that are not a joblog line (the header, a torn last line) are skipped.
    public static func parse(_ text: String) -> [Int: Bool] {
        var out = [Int: Bool]()
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let f = line.split(separator: "\t", maxSplits: 8, omittingEmptySubsequences: false)
            guard f.count >= 9, let seq = Int(f[0]), let exitval = Int(f[6]), let signal = Int(f[7]) else { continue }
            out[seq] = exitval == 0 && signal == 0
        }
        return out
    }

    /// The seqs `--resume` (every one the joblog has) or `--resume-failed` (only those that succeeded) skips.
    public static func skipped(_ recorded: [Int: Bool], failedToo: Bool) -> Set<Int> {
        Set(recorded.compactMap { seq, ok in failedToo ? (ok ? seq : nil) : seq })
    }
}

// MARK: --results

/// GNU parallel's `--results DIR` layout: `DIR/1/ARG1/2/ARG2/` holding `seq`, `stdout` and `stderr`.
public enum ResultsLayout {
    /// An argument as a directory name, as GNU parallel quotes it: `\` `\\`, tab `\t`, NUL `\0`, `/` `\_`; cut to
    /// 255 bytes (a longer name cannot be made).
    public static func escape(_ arg: String) -> String {
        var s = ""
        for c in arg.unicodeScalars {
            switch c {
            case "\\": s += "\\\\"
            case "\t": s += "\\t"
            case "\0": s += "\\0"
            case "/": s += "\\_"
            default: s.unicodeScalars.append(c)
            }
        }
        if s.utf8.count > 255 { s = String(decoding: s.utf8.prefix(255), as: UTF8.self) }
        return s
    }

    /// The directory of one task's files (as GNU: an empty argument is an empty path component).
    public static func directory(root: String, args: [String]) -> String {
        var parts = [root]
        for (i, a) in args.enumerated() {
            parts.append(String(i + 1))
            parts.append(escape(a))
        }
        return parts.joined(separator: "/")
    }
}

// MARK: exit status

/// GNU parallel's exit status, from each finished task in completion order: the number of failed tasks (101 for
/// more than 100), or as `--halt` sets it when it fires (fail=1: the failing task's status; fail=N: the failures;
/// N%: the percentage failed; success: 0).
public struct GNUExitStatus: Sendable {
    public var halt: HaltCondition?
    /// `--halt` was given (not `never`).
    public var halting: Bool
    public var failed = 0
    public var ok = 0
    public var done = 0
    /// Set when the halt fired.
    public var frozen: Int32?

    /// `halting`: a halt policy is set; `condition` nil is the first failure (fail=1).
    public init(halting: Bool, condition: HaltCondition?) {
        self.halting = halting
        halt = halting ? (condition ?? HaltCondition(.fail, .count(1))) : nil
    }

    /// One finished task; `total` is the batch's task count (for a percentage).
    public mutating func record(failed isFailed: Bool, exitStatus: Int32?, signal: Int32?, total: Int) {
        done += 1
        if isFailed { failed += 1 } else { ok += 1 }
        guard let halt, halting, frozen == nil || (halt.kind == .success && frozen == 0) else { return }
        let counted: Int? =
            switch halt.kind {
            case .fail: isFailed ? failed : nil
            case .success: isFailed ? nil : ok
            case .done: done
            }
        guard let counted else { return }
        let limit = halt.limit(total: total)
        guard limit > 0, Double(counted) >= limit else { return }
        switch halt.kind {
        case .success: frozen = 0
        case .fail, .done:
            if case .percent = halt.threshold {
                frozen = Int32((Double(failed) / Double(max(total, 1)) * 100).rounded(.up))
            } else {
                frozen = Int32(min(failed, 101))
            }
            if limit == 1 {
                let status = exitStatus ?? 0
                frozen = status != 0 ? status : (signal ?? 0) != 0 ? 128 + signal! : (isFailed ? 1 : 0)
            }
        }
    }

    /// The status to exit with.
    public var status: Int32 {
        if let frozen { return frozen }
        if halting, let halt, case .percent = halt.threshold {
            return Int32((Double(failed) / Double(max(done, 1)) * 100).rounded(.up))
        }
        return Int32(min(failed, 101))
    }
}


// MARK: -j

/// GNU parallel's `-j` values: N; N% of the cores; +N and -N cores more or fewer; 0 as many as can run.
public enum GNUJobs {
    /// What `-j 0` means here: GNU parallel runs as many as it can; ppdash starts this many local engines.
    public static let asMany = 256

    /// The job count on a host with `cores` cores (at least 1, as GNU parallel computes it), nil if `text` is not
    /// one of the forms. A plain negative N is -N cores (GNU parallel reads `-j -2` so too).
    public static func count(_ text: String, cores: Int) -> Int? {
        var s = Substring(text)
        let percent = s.hasSuffix("%")
        if percent { s = s.dropLast() }
        var sign = 0
        if let f = s.first, f == "+" || f == "-" {
            sign = f == "+" ? 1 : -1
            s = s.dropFirst()
        }
        guard !s.isEmpty, s.allSatisfy(\.isASCII), s.allSatisfy(\.isNumber), let n = Int(s), n <= 1_000_000 else { return nil }
        if percent {
            guard sign == 0 else { return nil }
            return max(1, Int(Double(cores) * Double(n) / 100))
        }
        switch sign {
        case 1: return cores + n
        case -1: return max(1, cores - n)
        default: return n == 0 ? asMany : n
        }
    }
}
