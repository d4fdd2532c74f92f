import Glibc
import PPSystem
import Synchronization

/// How a command line runs: directly as argv when it is a plain program call, otherwise through `/bin/sh -c`.
public enum CommandPlan: Sendable, Hashable {
    /// Exec `path` directly; `arguments` include argv[0].
    case argv(path: String, arguments: [String])
    /// Run through `/bin/sh -c`.
    case shell(String)

    /// argv for plain words whose first is an executable on `path` (or a path with a slash); else `/bin/sh -c`.
    public static func plan(_ command: String, path: String? = getenv("PATH").map { ByteText.decode(cString: $0) })
        -> CommandPlan
    {
        guard let words = plainWords(command), let first = words.first else { return .shell(command) }
        guard !neverExec.contains(first), execMatchesShell(words) else { return .shell(command) }
        guard let resolved = PathCache.resolve(first, path: path) else { return .shell(command) }
        return .argv(path: resolved, arguments: words)
    }

    /// The space/tab-separated words of a command without shell syntax, else nil. The first word is plain bytes
    /// (no `=`: an assignment); the others may also hold `=` and the quoting GNU parallel's arguments get: `'...'`
    /// (anything but `'` and `\`) and `"..."` without `$` `` ` `` `\` (so `'a b'`, `it'"'"'s`, `''` are words the
    /// shell would make too, and run directly).
    static func plainWords(_ command: String) -> [String]? {
        var words: [String] = []
        var word: [UInt8] = []
        var inWord = false
        let u = Array(command.utf8)
        var i = 0
        func end() {
            if inWord { words.append(String(decoding: word, as: UTF8.self)) }
            word.removeAll(keepingCapacity: true)
            inWord = false
        }
        while i < u.count {
            let b = u[i]
            if b == 32 || b == 9 {
                end()
                i += 1
                continue
            }
            inWord = true
            if isPlainByte(b) || (b == UInt8(ascii: "=") && !words.isEmpty) {
                word.append(b)
                i += 1
            } else if (b == 39 || b == 34) && !words.isEmpty {
                // A quoted part of an argument: up to the same quote, literal inside ('...' always; "..." when it
                // holds nothing the shell would expand). No backslash: sh's own echo reads escapes in its
                // arguments, the echo program does not; such a command keeps going to sh, as GNU parallel's does.
                guard let close = u[(i + 1)...].firstIndex(of: b) else { return nil }
                let inside = u[(i + 1)..<close]
                if inside.contains(92) { return nil }
                if b == 34, inside.contains(where: { $0 == UInt8(ascii: "$") || $0 == UInt8(ascii: "`") }) { return nil }
                word.append(contentsOf: inside)
                i = close + 1
            } else {
                return nil
            }
        }
        end()
        return words
    }

    @inline(__always) static func isPlainByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "%"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "/"),
            UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "_"):
            true
        default:
            b >= 0x80
        }
    }

    /// A program that is also one of sh's builtins runs directly only where it does what the builtin would, so a
    /// command means the same whatever its arguments (a task whose argument needs quoting goes to sh):
    /// coreutils' `echo` takes options (`-e`, `-E`, `--help`) where dash's prints them, and `true`/`false` print
    /// their help for `--help`/`--version`.
    static func execMatchesShell(_ words: [String]) -> Bool {
        switch words[0] {
        case "echo": return words.count < 2 || !words[1].hasPrefix("-")
        case "true", "false": return !words.dropFirst().contains { $0 == "--help" || $0 == "--version" }
        default: return true
        }
    }

    /// Shell builtins and keywords that must never be exec'd even if a program of that name exists; with `pwd`
    /// (the program prints the physical directory, sh the logical one through a symlink), `printf`, `test`, `[`
    /// and `kill`, whose programs differ from sh's builtins in options and operators (`==`, `%q`, `-l`).
    static let neverExec: Set<String> = [
        ".", ":", "alias", "bg", "bind", "break", "builtin", "caller", "case", "cd", "command", "compgen", "complete",
        "compopt", "continue", "coproc", "declare", "dirs", "disown", "do", "done", "elif", "else", "enable", "esac",
        "eval", "exec", "exit", "export", "fc", "fg", "fi", "for", "function", "getopts", "hash", "help", "history",
        "if", "in", "jobs", "let", "local", "logout", "mapfile", "popd", "pushd", "read", "readarray", "readonly",
        "return", "select", "set", "shift", "shopt", "source", "suspend", "then", "time", "times", "trap", "type",
        "typeset", "ulimit", "umask", "unalias", "unset", "until", "wait", "while",
        "pwd", "printf", "test", "[", "kill",
    ]
}

/// Cached PATH lookups (the hot path plans thousands of commands per second); guarded by `state`'s Mutex.
enum PathCache {
    struct State: ~Copyable {
        var pathVariable: String? = nil
        /// Name (or absolute path) to resolved path; "" records a miss.
        var entries: [String: String] = [:]
    }
    static let state = Mutex(State())
    static let maxEntries = 4096

    /// The executable `name` runs, or nil; names with a slash are checked as paths (absolute ones cached).
    static func resolve(_ name: String, path: String?) -> String? {
        let hasSlash = name.utf8.contains(UInt8(ascii: "/"))
        if hasSlash && name.utf8.first != UInt8(ascii: "/") {
            return isExecutableFile(name) ? name : nil
        }
        let cached: String? = state.withLock { s in
            if !hasSlash && s.pathVariable != path {
                s.pathVariable = path
                s.entries.removeAll(keepingCapacity: true)
            }
            return s.entries[name]
        }
        if let cached { return cached.isEmpty ? nil : cached }
        let found = hasSlash ? (isExecutableFile(name) ? name : nil) : search(name, path: path)
        state.withLock { s in
            guard hasSlash || s.pathVariable == path else { return }
            if s.entries.count >= maxEntries { s.entries.removeAll(keepingCapacity: true) }
            s.entries[name] = found ?? ""
        }
        return found
    }

    /// Drops a cached answer that turned out stale.
    static func forget(_ name: String) {
        state.withLock { s in _ = s.entries.removeValue(forKey: name) }
    }

    /// Searches the absolute directories of `path` (relative entries are left to the shell).
    static func search(_ name: String, path: String?) -> String? {
        guard let path else { return nil }
        for dir in path.utf8.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: true) {
            guard dir.first == UInt8(ascii: "/") else { return nil }
            var candidate = String(Substring(dir))
            if dir.last != UInt8(ascii: "/") { candidate += "/" }
            candidate += name
            if isExecutableFile(candidate) { return candidate }
        }
        return nil
    }

    static func isExecutableFile(_ p: String) -> Bool {
        // The path's own bytes (a name that is not UTF-8 is looked up as given).
        ByteText.withCString(p) { path in
            var st = stat()
            guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return false }
            return access(path, X_OK) == 0
        }
    }
}
