// GNU parallel's option values as `run` takes them: --halt, -j, -S/--sshlogin, --memfree sizes.
import ArgumentParser
import Foundation
import PPKit

/// `--halt`: GNU parallel's `never`, `now|soon,fail|success|done=N|N%`, the old numbers (`0` `1` `2` `-1` `-2`,
/// `N%`), and ppdash's `now`/`soon` (the first failure, GNU's `now,fail=1`/`soon,fail=1`).
struct HaltOption: ExpressibleByArgument, Sendable, Equatable {
    /// Nil: never.
    var when: HaltPolicy?
    /// Nil: the first failure.
    var condition: HaltCondition?

    init(when: HaltPolicy?, condition: HaltCondition?) {
        self.when = when
        self.condition = condition
    }

    init?(argument: String) {
        guard let h = try? HaltOption.parse(argument) else { return nil }
        self = h
    }

    /// Parses GNU parallel's forms; the error says what is wrong.
    static func parse(_ text: String) throws(SweepError) -> HaltOption {
        let (when, condition) = try HaltCondition.parse(text)
        return HaltOption(when: when, condition: condition)
    }

    /// As the journal records it (and `resume` reads it back): `now`, `soon,fail=3`, `never`.
    var rawValue: String {
        guard let when else { return "never" }
        guard let condition else { return when.rawValue }
        return when.rawValue + "," + condition.text
    }

    init?(rawValue: String) { self.init(argument: rawValue) }

    var defaultValueDescription: String { rawValue }
}

/// `-j`/`-n`/`--jobs`: N, N% of the cores, +N or -N cores, 0 for as many as ppdash allows (see `GNUJobs`).
struct JobsOption: ExpressibleByArgument, Sendable, Equatable {
    var text: String

    init(_ n: Int) { text = String(n) }

    init?(argument: String) {
        guard GNUJobs.count(argument, cores: 1) != nil else { return nil }
        text = argument
    }

    /// The engine count on a host with `cores` cores.
    func count(cores: Int) -> Int { GNUJobs.count(text, cores: cores) ?? cores }
}

/// `-S`/`--sshlogin` and `--sshloginfile` entries: `[N/][user@]host[:port]`, `:` for this host; comma-separated.
enum SSHLogins {
    /// The engine spec text for one entry (`local:N`, `ssh:N/host`, `ssh:host`); `jobs` is `-j`'s count when given.
    static func spec(_ entry: String, jobs: Int?, cores: Int) throws(SweepError) -> String {
        var login = entry.trimmingCharacters(in: .whitespaces)
        var count = jobs
        if let slash = login.firstIndex(of: "/"), let n = Int(login[..<slash]) {
            guard n >= 1 else { throw SweepError("--sshlogin \(entry): the count before / must be at least 1") }
            count = n
            login = String(login[login.index(after: slash)...])
        }
        guard !login.isEmpty else { throw SweepError("--sshlogin '\(entry)': give [N/][user@]host[:port], or : for this host") }
        if login.contains(" ") {
            throw SweepError(
                "--sshlogin '\(entry)': an ssh command in the login is not supported; give [N/][user@]host[:port] and --ssh 'ssh OPTIONS'")
        }
        if login == ":" { return "local:\(count ?? cores)" }
        return count.map { "ssh:\($0)/\(login)" } ?? "ssh:\(login)"
    }

    /// The entries of `-S` values (comma-separated) and of `--sshloginfile` files (one a line, `#` comments).
    static func entries(logins: [String], files: [String]) throws -> [String] {
        var out = logins.flatMap { $0.split(separator: ",").map(String.init) }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("--sshloginfile \(file): cannot read it")
            }
            for line in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
                let t = line.trimmingCharacters(in: .whitespaces)
                if t.isEmpty || t.hasPrefix("#") { continue }
                out.append(t)
            }
        }
        return out
    }
}

/// `--memfree SIZE`: bytes, with GNU parallel's suffixes k M G T (powers of 1024; a lowercase one too).
struct ByteSize: ExpressibleByArgument, Sendable, Equatable {
    var bytes: Int64
    var text: String

    init?(argument: String) {
        text = argument
        var s = Substring(argument)
        var factor: Double = 1
        if let last = s.last, let k = "kmgtp".firstIndex(of: Character(last.lowercased())) {
            factor = pow(1024, Double("kmgtp".distance(from: "kmgtp".startIndex, to: k) + 1))
            s = s.dropLast()
        }
        guard let v = Double(s), v.isFinite, v >= 0, v * factor < 9e18 else { return nil }
        bytes = Int64(v * factor)
    }
}
