// This host's memory and load, from /proc (for `run --memfree` and `--load`).

extension SystemFacts {
    /// MemAvailable of /proc/meminfo in bytes; nil where it cannot be read.
    public static func memoryAvailable() -> Int64? {
        guard let raw = contents(of: "/proc/meminfo") else { return nil }
        return parseMemAvailable(String(decoding: raw, as: UTF8.self))
    }

    /// The `MemAvailable:   N kB` line's bytes.
    public static func parseMemAvailable(_ text: String) -> Int64? {
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count >= 2, let kb = Int64(words[1]) else { return nil }
            return kb * 1024
        }
        return nil
    }

    /// The 1-minute load average of /proc/loadavg; nil where it cannot be read.
    public static func loadAverage() -> Double? {
        guard let raw = contents(of: "/proc/loadavg") else { return nil }
        return parseLoadAverage(String(decoding: raw, as: UTF8.self))
    }

    /// The first number of a /proc/loadavg text.
    public static func parseLoadAverage(_ text: String) -> Double? {
        text.split(separator: " ").first.flatMap { Double($0) }
    }
}
