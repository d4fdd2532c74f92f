// The one spawner: posix_spawn with every return code checked, the child's process group or session, and a
// descriptor plan (the descriptors the child gets; no other of ours reaches it).
import CPPSys
import Glibc

/// What a child gets and how it starts.
public struct SpawnPlan {
    /// One descriptor of the child's.
    public enum Descriptor {
        /// The child's `target` is a copy of our `source` (which stays ours).
        case copy(_ source: Int32, to: Int32)
        /// The child opens `path` as `target` (e.g. /dev/null, a pty's slave).
        case open(_ path: String, flags: Int32, to: Int32)
    }

    /// Where the child stands among process groups.
    public enum Grouping {
        /// Ours.
        case inherit
        /// A new group it leads (so its whole tree can be signalled).
        case newGroup
        /// A new session it leads: no controlling terminal, the terminal's Ctrl-C does not reach it.
        case newSession
    }

    /// The program: a path, or a name looked up in PATH when `searchPath`.
    public var executable: String
    public var arguments: [String]
    /// Variables set (or replaced) on top of ours, and names removed from ours.
    public var environment: [String: String] = [:]
    public var removedVariables: [String] = []
    public var workingDirectory: String?
    public var descriptors: [Descriptor] = []
    public var grouping: Grouping = .newGroup
    public var searchPath = false

    public init(
        executable: String, arguments: [String], descriptors: [Descriptor] = [], grouping: Grouping = .newGroup
    ) {
        self.executable = executable
        self.arguments = arguments
        self.descriptors = descriptors
        self.grouping = grouping
    }

    /// Starts the child: no signal blocked, every signal at its default action, no descriptor beyond the plan's.
    /// Throws the errno of the first step that failed (ENOENT for a missing program, ENOEXEC, EACCES ...).
    public func spawn() throws(Errno) -> ChildProcess {
        func check(_ rc: Int32) throws(Errno) { if rc != 0 { throw Errno(rawValue: rc) } }
        var actions = posix_spawn_file_actions_t()
        try check(posix_spawn_file_actions_init(&actions))
        defer { posix_spawn_file_actions_destroy(&actions) }
        var highest: Int32 = 2
        for d in descriptors {
            switch d {
            case .copy(let source, let target):
                try check(posix_spawn_file_actions_adddup2(&actions, source, target))
                highest = max(highest, target)
            case .open(let path, let flags, let target):
                try check(ByteText.withCString(path) { posix_spawn_file_actions_addopen(&actions, target, $0, flags, 0) })
                highest = max(highest, target)
            }
        }
        // Above the plan's highest target nothing is inherited; below it, ours are close-on-exec anyway.
        try check(ppsys_spawn_addclosefrom(&actions, highest + 1))
        if let workingDirectory { try check(ByteText.withCString(workingDirectory) { ppsys_spawn_addchdir(&actions, $0) }) }

        var attr = posix_spawnattr_t()
        try check(posix_spawnattr_init(&attr))
        defer { posix_spawnattr_destroy(&attr) }
        var set = sigset_t()
        sigemptyset(&set)
        try check(posix_spawnattr_setsigmask(&attr, &set))
        sigfillset(&set)
        try check(posix_spawnattr_setsigdefault(&attr, &set))
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        switch grouping {
        case .inherit: break
        case .newGroup:
            try check(posix_spawnattr_setpgroup(&attr, 0))
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
        case .newSession: flags |= Int32(ppsys_spawn_setsid_flag())
        }
        try check(posix_spawnattr_setflags(&attr, Int16(flags)))

        let args = CStringArray(arguments)
        defer { args.free() }
        let env = environmentBlock(environment, removing: removedVariables)
        defer { env?.free() }
        var pid: pid_t = 0
        // Every String reaching exec goes through ByteText, so bytes that are not UTF-8 arrive as they were given.
        try check(
            ByteText.withCString(executable) { path in
                searchPath
                    ? posix_spawnp(&pid, path, &actions, &attr, args.pointers, env?.pointers ?? ppsys_environ())
                    : posix_spawn(&pid, path, &actions, &attr, args.pointers, env?.pointers ?? ppsys_environ())
            })
        return ChildProcess(pid: pid, leadsGroup: grouping != .inherit)
    }
}

/// NUL-terminated strings packed in one allocation, with a nil-terminated pointer array for argv/envp; each
/// string's bytes are `ByteText.bytes(of:)` (the bytes it was decoded from).
struct CStringArray {
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    let storage: UnsafeMutablePointer<CChar>?

    init(_ strings: [String]) {
        var bytes = 0
        for s in strings { bytes += s.utf8.count + 1 }  // the UTF-8 is never shorter than the bytes it stands for
        pointers = .allocate(capacity: strings.count + 1)
        let store = UnsafeMutablePointer<CChar>.allocate(capacity: max(bytes, 1))
        storage = store
        var offset = 0
        for (i, s) in strings.enumerated() {
            let p = store + offset
            let n: Int
            if ByteText.hasEscapes(s) {
                let raw = ByteText.bytes(of: s)
                n = raw.count
                UnsafeMutableRawPointer(p).withMemoryRebound(to: UInt8.self, capacity: n + 1) { dst in
                    _ = UnsafeMutableBufferPointer(start: dst, count: n).initialize(from: raw)
                    dst[n] = 0
                }
            } else {
                n = s.utf8.count
                UnsafeMutableRawPointer(p).withMemoryRebound(to: UInt8.self, capacity: n + 1) { dst in
                    _ = UnsafeMutableBufferPointer(start: dst, count: n).initialize(from: s.utf8)
                    dst[n] = 0
                }
            }
            pointers[i] = p
            offset += n + 1
        }
        pointers[strings.count] = nil
    }

    func free() {
        pointers.deallocate()
        storage?.deallocate()
    }
}

/// The child's environment: nil for `environ` itself, else `environ` minus the overridden and removed names plus
/// `extra`.
func environmentBlock(_ extra: [String: String], removing: [String]) -> CStringArray? {
    guard !extra.isEmpty || !removing.isEmpty else { return nil }
    var entries: [String] = []
    var e = ppsys_environ()
    while let entry = e?.pointee {
        let s = ByteText.decode(cString: entry)  // a variable's bytes go back as they came
        let name = String(s.prefix { $0 != "=" })
        if extra[name] == nil && !removing.contains(name) { entries.append(s) }
        e! += 1
    }
    return CStringArray(entries + extra.map { $0.key + "=" + $0.value })
}
