// Saved settings: `$XDG_CONFIG_HOME/ppdash/config.toml` (default `~/.config/ppdash/config.toml`), or `--config FILE`.
//
//     refresh = 0.1          # seconds between frames (0.02 ... 10)
//     theme = "dark"         # dark, light or mono
//     mouse = true           # xterm mouse reporting (false: the terminal's own selection works)
//     ascii = false          # draw with ASCII only
//     [table]
//     columns = ["id", "status", "engine", "duration", "command"]   # shown, in this order
//     sort = "id"            # a column name
//     order = "ascending"    # or "descending"
//
// An unknown key is a warning; a bad value is one line naming the key, and the default is kept.
import Glibc
import PPKit
import PPSource
import PPSystem
import TOMLKit

/// The dashboard's three palettes.
public enum ThemeName: String, Sendable, Hashable, CaseIterable {
    case dark, light, mono
}

/// The settings a config file gives; nil: not given (the default or the command line decides).
public struct DashboardConfig: Sendable, Hashable {
    public var refresh: Double?
    public var theme: ThemeName?
    public var mouse: Bool?
    public var ascii: Bool?
    public var columns: [SortKey]?
    public var sort: SortKey?
    public var ascending: Bool?

    public init() {}

    /// The table columns by their config names: the headings, lowercased (`command` for the command text).
    public static func columnName(_ k: SortKey) -> String { k == .text ? "command" : k.rawValue }
    public static func column(named name: String) -> SortKey? {
        let n = name.lowercased()
        return n == "command" ? .text : n == "text" ? nil : SortKey(rawValue: n)
    }
    static var columnNames: String { SortKey.allCases.map(columnName).joined(separator: ", ") }

    /// Refresh intervals a file may set, seconds (the app's own bounds).
    public static let refreshRange: ClosedRange<Double> = 0.02...10
}

/// Reading and writing the config file.
public enum ConfigFile {
    /// The largest config file read (anything bigger is not a config file).
    public static let maxBytes = 1 << 20

    /// `$XDG_CONFIG_HOME/ppdash/config.toml`, else `$HOME/.config/ppdash/config.toml`; nil without either.
    public static func defaultPath(environment: [String: String]) -> String? {
        if let x = environment["XDG_CONFIG_HOME"], x.hasPrefix("/") { return x + "/ppdash/config.toml" }
        if let h = environment["HOME"], !h.isEmpty { return h + "/.config/ppdash/config.toml" }
        return nil
    }

    /// The process's environment as a dictionary (for `defaultPath`).
    public static var processEnvironment: [String: String] {
        var out = [String: String]()
        for key in ["XDG_CONFIG_HOME", "HOME"] { if let v = getenv(key) { out[key] = String(cString: v) } }
        return out
    }

    /// Parses a config text; problems are lines for stderr (each names the file and the key), defaults kept.
    public static func parse(_ text: String, path: String) -> (DashboardConfig, [String]) {
        var config = DashboardConfig()
        var warnings: [String] = []
        func warn(_ s: String) { warnings.append("ppdash: \(path): \(s)") }
        if text.utf8.contains(0) {
            warn("holds a NUL byte: not a TOML file; the defaults are used")
            return (config, warnings)
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            warn("line \(e.source.begin.line): \(e.description); the file is ignored, the defaults are used")
            return (config, warnings)
        } catch {
            warn("cannot be read as TOML (\(error)); the defaults are used")
            return (config, warnings)
        }
        for key in table.keys {
            guard let v = table[key] else { continue }
            switch key {
            case "refresh":
                let seconds = v.double ?? v.int.map(Double.init)
                if let s = seconds, s.isFinite, DashboardConfig.refreshRange.contains(s) {
                    config.refresh = s
                } else {
                    warn("refresh = \(show(v)): want seconds from 0.02 to 10; the default is kept")
                }
            case "theme":
                if let s = v.string, let t = ThemeName(rawValue: s.lowercased()) {
                    config.theme = t
                } else {
                    warn("theme = \(show(v)): want \"dark\", \"light\" or \"mono\"; the default is kept")
                }
            case "mouse", "ascii":
                if let b = v.bool {
                    if key == "mouse" { config.mouse = b } else { config.ascii = b }
                } else {
                    warn("\(key) = \(show(v)): want true or false; the default is kept")
                }
            case "table":
                guard let t = v.table else {
                    warn("table = \(show(v)): want a [table] section; the defaults are kept")
                    continue
                }
                parseTable(t, into: &config, warn: warn)
            default:
                warn("unknown key \(key) (known: refresh, theme, mouse, ascii, [table]); ignored")
            }
        }
        return (config, warnings)
    }

    private static func parseTable(_ t: TOMLTable, into config: inout DashboardConfig, warn: (String) -> Void) {
        for key in t.keys {
            guard let v = t[key] else { continue }
            switch key {
            case "columns":
                guard let array = v.array else {
                    warn("table.columns = \(show(v)): want a list of column names; the default is kept")
                    continue
                }
                var cols: [SortKey] = []
                var bad: [String] = []
                for item in array {
                    if let s = item.string, let k = DashboardConfig.column(named: s) {
                        if !cols.contains(k) { cols.append(k) }
                    } else {
                        bad.append(show(item))
                    }
                }
                if !bad.isEmpty || cols.isEmpty {
                    warn(
                        "table.columns: " + (bad.isEmpty ? "no column" : "unknown column " + bad.joined(separator: ", "))
                            + " (known: \(DashboardConfig.columnNames)); the default is kept")
                } else {
                    config.columns = cols
                }
            case "sort":
                if let s = v.string, let k = DashboardConfig.column(named: s) {
                    config.sort = k
                } else {
                    warn("table.sort = \(show(v)): want a column name (\(DashboardConfig.columnNames)); the default is kept")
                }
            case "order":
                switch v.string?.lowercased() {
                case "ascending"?: config.ascending = true
                case "descending"?: config.ascending = false
                default: warn("table.order = \(show(v)): want \"ascending\" or \"descending\"; the default is kept")
                }
            default:
                warn("unknown key table.\(key) (known: columns, sort, order); ignored")
            }
        }
    }

    /// A value as the file spells it, cut for a message.
    private static func show(_ v: TOMLValueConvertible) -> String {
        let text: String
        if let s = v.string { text = "\"" + s + "\"" } else { text = v.debugDescription }
        let line = text.replacingNewlines
        return line.count > 40 ? String(line.prefix(39)) + "…" : line
    }

    /// Reads and parses the file at `path`. A missing default file is no problem (`mustExist` false); a file named
    /// with `--config` that cannot be read is an error (the message, for exit 2).
    public static func load(path: String, mustExist: Bool) -> Result<(DashboardConfig, [String]), ConfigError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            if e == ENOENT && !mustExist { return .success((DashboardConfig(), [])) }
            return .failure(ConfigError("cannot read the config file \(path): \(SystemFacts.errorText(e))"))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            return .failure(ConfigError("the config file \(path) is not a regular file"))
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return .failure(ConfigError("cannot read the config file \(path): \(SystemFacts.errorText(errno))")) }
            if n == 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > maxBytes { return .failure(ConfigError("the config file \(path) is over 1 MiB: not a config file")) }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .success((DashboardConfig(), ["ppdash: \(path): not UTF-8 text; the defaults are used"]))
        }
        return .success(parse(text, path: path))
    }

    /// Writes the table's columns (and sort) into the file at `path`, keeping every other line as it was (comments,
    /// blank lines, other keys and sections, their order: only the `[table]` keys ppdash writes are edited where they
    /// stand); creates the file and its directory (0700) when missing. Throws a readable reason; a file that does
    /// not parse, or that the edit could not keep whole, is never overwritten.
    public static func save(columns: [SortKey], sort: SortKey, ascending: Bool, to path: String) throws(ConfigError) {
        var existing = ""
        switch readText(path) {
        case .success(let t): existing = t
        case .failure(let e): throw e
        }
        let before: TOMLTable
        do {
            before = try TOMLTable(string: existing)
        } catch {
            throw ConfigError("the config file \(path) does not parse as TOML: not overwritten (fix or remove it)")
        }
        func quoted(_ s: String) -> String { "\"" + s + "\"" }  // column names are plain ASCII words
        let values = [
            ("columns", "[" + columns.map { quoted(DashboardConfig.columnName($0)) }.joined(separator: ", ") + "]"),
            ("sort", quoted(DashboardConfig.columnName(sort))),
            ("order", quoted(ascending ? "ascending" : "descending")),
        ]
        let header = existing.isEmpty ? "# ppdash dashboard settings (see README: Saved settings)\n" : existing
        let text: String
        do throws(TOMLLineEdit.Failure) {
            text = try TOMLLineEdit.set(values, table: "table", in: header)
        } catch {
            throw ConfigError("cannot save the columns into \(path) without changing its other lines: \(error.reason)")
        }
        // The edited file must read back as what was meant, with every other setting unchanged.
        // (sameExceptTable blanks the written keys of both tables: the values are checked first.)
        guard let after = try? TOMLTable(string: text),
            after["table"]?.table?["columns"]?.array?.count == columns.count,
            after["table"]?.table?["sort"]?.string == DashboardConfig.columnName(sort),
            after["table"]?.table?["order"]?.string == (ascending ? "ascending" : "descending"),
            Self.sameExceptTable(before, after)
        else {
            throw ConfigError("cannot save the columns into \(path) without changing its other lines: not overwritten")
        }
        try makeParents(of: path)
        try writeAtomically(text, to: path)
    }

    /// The two files hold the same settings but for the `[table]` keys ppdash writes (both tables are changed: those
    /// keys are blanked in each).
    static func sameExceptTable(_ a: TOMLTable, _ b: TOMLTable) -> Bool {
        let written = ["columns", "sort", "order"]
        for t in [a, b] {
            // A fresh section with the old one's other keys (never a node of the table being replaced).
            let section = TOMLTable()
            if let old = t["table"]?.table {
                for key in old.keys where !written.contains(key) {
                    if let v = old[key] { section[key] = v }
                }
            } else if t["table"] != nil {
                return false
            }
            for key in written { section[key] = "" }
            t["table"] = section
        }
        return a == b
    }

    private static func readText(_ path: String) -> Result<String, ConfigError> {
        switch load(path: path, mustExist: false) {
        case .failure(let e): return .failure(e)
        case .success:
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 { return .success("") }
            defer { close(fd) }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                bytes += chunk[0..<n]
            }
            return .success(String(decoding: bytes, as: UTF8.self))
        }
    }

    private static func makeParents(of path: String) throws(ConfigError) {
        var dir = ""
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        for (i, p) in parts.enumerated() {
            dir += (i == 0 ? "" : "/") + p
            guard !dir.isEmpty else { continue }
            if mkdir(dir, 0o700) != 0 && errno != EEXIST {
                throw ConfigError("cannot make \(dir) for the config file: \(SystemFacts.errorText(errno))")
            }
        }
    }

    /// Writes `text` to a temporary file beside `path`, then renames it over `path`: a reader never sees half a file.
    private static func writeAtomically(_ text: String, to path: String) throws(ConfigError) {
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw ConfigError("cannot write \(tmp): \(SystemFacts.errorText(errno))") }
        var bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                let e = errno
                close(fd)
                unlink(tmp)
                throw ConfigError("cannot write \(path): \(SystemFacts.errorText(e))")
            }
            done += n
        }
        bytes.removeAll()
        guard fsync(fd) == 0 || errno == EINVAL, close(fd) == 0, rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw ConfigError("cannot write \(path): \(SystemFacts.errorText(e))")
        }
    }
}

/// A config file that cannot be used, in one line.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension UIState {
    /// Takes the table settings of a config (the rest is the app's: refresh, theme, mouse, ASCII).
    public mutating func apply(_ config: DashboardConfig) {
        if let c = config.columns { columns = c }
        if let s = config.sort { sort = s }
        if let a = config.ascending { ascending = a }
        if let t = config.theme { theme = t }
    }
}

extension String {
    /// Newlines and tabs as spaces (for one-line messages).
    fileprivate var replacingNewlines: String {
        String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\n" || $0 == "\r" || $0 == "\t" ? " " : $0 }))
    }
}
