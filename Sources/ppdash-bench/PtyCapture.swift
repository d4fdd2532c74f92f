import CPPSys
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The real `ppdash` on a pty at 100x30: what it writes to the terminal, byte by byte, with the time it came.
enum PtyCapture {
    /// What came out of the pty master: (seconds since the spawn, bytes) per read.
    struct Capture {
        var reads: [(at: Double, bytes: Int)]

        /// Bytes that came in [from, to) seconds.
        func bytes(from: Double, to: Double) -> Int {
            reads.filter { $0.at >= from && $0.at < to }.reduce(0) { $0 + $1.bytes }
        }
    }

    /// Runs `ppdash ARGS` on a new pty of `rows` x `cols` (TERM=xterm-256color, a UTF-8 locale) for `seconds`, then
    /// SIGTERM (the dashboard restores the terminal and stops); returns every read from the master.
    static func run(ppdash: String, args: [String], rows: Int, cols: Int, seconds wanted: Double) throws -> Capture {
        var master: Int32 = -1
        var slaveFD: Int32 = -1
        guard openpty(&master, &slaveFD, nil, nil, nil) == 0 else {
            throw BenchError("no pty: \(String(cString: strerror(errno)))")
        }
        defer { close(master) }
        // Not inherited by other children; the slave is opened again in the child by name.
        _ = fcntl(master, F_SETFD, FD_CLOEXEC)
        _ = fcntl(slaveFD, F_SETFD, FD_CLOEXEC)
        var name = [CChar](repeating: 0, count: 256)
        guard ppsys_ptsname(master, &name, name.count) == 0 else {
            close(slaveFD)
            throw BenchError("ptsname failed")
        }
        let slave = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var ws = winsize(ws_row: UInt16(rows), ws_col: UInt16(cols), ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(master, UInt(TIOCSWINSZ), &ws)
        let argv = [ppdash] + args
        var env = ProcessInfo.processInfo.environment
        env["TERM"] = "xterm-256color"
        env["LANG"] = "C.UTF-8"
        env["LC_ALL"] = "C.UTF-8"
        env["NO_COLOR"] = nil
        env["LINES"] = nil
        env["COLUMNS"] = nil

        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_addopen(&fa, 0, slave, O_RDWR, 0)
        posix_spawn_file_actions_adddup2(&fa, 0, 1)
        posix_spawn_file_actions_adddup2(&fa, 0, 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        ppsys_sigset_empty(&none)
        var all = sigset_t()
        ppsys_sigset_fill(&all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &all)
        // A new session: opening the slave makes it the controlling terminal, as a terminal emulator does.
        posix_spawnattr_setflags(
            &attr,
            Int16(Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF) | Int32(ppsys_spawn_setsid_flag())))
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        var pid: pid_t = 0
        let t0 = seconds()
        let rc = posix_spawn(&pid, ppdash, &fa, &attr, cArgs, cEnv)
        // Only the child holds the slave now: reads see EIO once it and its children are gone.
        close(slaveFD)
        guard rc == 0 else { throw BenchError("cannot start ppdash on a pty: \(String(cString: strerror(rc)))") }

        var reads = [(at: Double, bytes: Int)]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        var stopped = false
        var killedAt: Double?
        var status: Int32 = 0
        var exited = false
        while true {
            let now = seconds() - t0
            if !stopped && now >= wanted {
                kill(pid, SIGTERM)
                stopped = true
                killedAt = now
            }
            if let k = killedAt, now > k + 5 { kill(-pid, SIGKILL) }
            var pfd = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 50)
            if ready > 0 {
                let n = read(master, &buffer, buffer.count)
                if n > 0 {
                    reads.append((seconds() - t0, n))
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    // EIO: every slave descriptor is closed (ppdash and its children are gone).
                    if exited { break }
                    usleep(10_000)
                }
            }
            if !exited && waitpid(pid, &status, WNOHANG) == pid { exited = true }
            if exited && ready <= 0 { break }
        }
        if !exited { waitpid(pid, &status, 0) }
        return Capture(reads: reads)
    }
}
