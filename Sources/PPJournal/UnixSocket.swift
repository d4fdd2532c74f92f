// Unix stream sockets: listen (owner only, stale sockets replaced), connect, and newline-framed messages.
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Thin wrappers over socket(2) for the state socket.
public enum UnixSocket {
    /// The longest path `sockaddr_un` holds (with its NUL).
    public static let maxPathLength: Int = MemoryLayout.size(ofValue: sockaddr_un().sun_path)

    /// Why a socket call failed.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var call: String
        public var code: Int32
        public var description: String { "\(call): \(SystemFacts.errorText(code))" }
    }

    static func address(_ path: String) throws(Failure) -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < maxPathLength else { throw Failure(call: "socket path too long", code: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        return addr
    }

    static func makeSocket() throws(Failure) -> Int32 {
        #if os(Linux)
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
            let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure(call: "socket", code: errno) }
        #if !os(Linux)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        return fd
    }

    /// Connects to `path`; the descriptor, or why not (ECONNREFUSED: nobody listens, the owner died).
    public static func connect(_ path: String) throws(Failure) -> Int32 {
        var addr = try address(path)
        let fd = try makeSocket()
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc_connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw Failure(call: "connect", code: e)
        }
        return fd
    }

    /// What `listen` found at the path before it bound.
    public enum Previous: Sendable, Equatable {
        case none
        /// A socket whose listener is gone: removed.
        case staleRemoved
    }

    /// Binds and listens on `path` with mode 0600; replaces a socket nobody listens on, refuses a live one.
    public static func listen(_ path: String) throws(Failure) -> (fd: Int32, previous: Previous) {
        var previous = Previous.none
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFSOCK else { throw Failure(call: "\(path) exists and is no socket", code: EEXIST) }
            if let fd = try? connect(path) {
                close(fd)
                throw Failure(call: "another ppdash listens on \(path)", code: EADDRINUSE)
            }
            unlink(path)
            previous = .staleRemoved
        }
        var addr = try address(path)
        let fd = try makeSocket()
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw Failure(call: "bind \(path)", code: e)
        }
        // Owner only, before anyone can connect (connect fails until listen).
        chmod(path, 0o600)
        guard Glibc_listen(fd, 16) == 0 else {
            let e = errno
            close(fd)
            unlink(path)
            throw Failure(call: "listen", code: e)
        }
        return (fd, previous)
    }

    /// The uid of the process at the other end of a connected socket, when the system says.
    public static func peerUID(_ fd: Int32) -> UInt32? {
        #if os(Linux)
            var cred = (pid: Int32(0), uid: UInt32(0), gid: UInt32(0))
            var len = socklen_t(MemoryLayout.size(ofValue: cred))
            guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 else { return nil }
            return cred.uid
        #else
            var uid = uid_t(0)
            var gid = gid_t(0)
            guard getpeereid(fd, &uid, &gid) == 0 else { return nil }
            return UInt32(uid)
        #endif
    }

    /// Seconds a blocked send or receive waits before failing with EAGAIN.
    public static func setTimeouts(_ fd: Int32, send: Double, receive: Double) {
        func tv(_ s: Double) -> timeval {
            var t = timeval()
            t.tv_sec = .init(s.rounded(.down))
            t.tv_usec = .init((s - s.rounded(.down)) * 1e6)
            return t
        }
        var snd = tv(send)
        var rcv = tv(receive)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends all of `bytes`; false when the peer is gone or too slow (the send timeout passed).
    public static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            #if os(Linux)
                let flags = Int32(MSG_NOSIGNAL)
            #else
                let flags: Int32 = 0
            #endif
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + off, bytes.count - off, flags) }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            off += n
        }
        return true
    }
}

/// Reads newline-framed messages from a socket, keeping what follows a newline for the next call.
struct LineReader {
    let fd: Int32
    private var pending: [UInt8] = []
    /// A message longer than this ends the connection (a peer gone mad).
    static let maxLine = 64 << 20

    init(fd: Int32) { self.fd = fd }

    /// The next line (without its newline), or nil at end of stream, error or timeout.
    mutating func next() -> [UInt8]? {
        var scanned = 0
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let nl = pending[scanned...].firstIndex(of: 10) {
                let line = Array(pending[..<nl])
                pending.removeFirst(nl + 1)
                return line
            }
            scanned = pending.count
            guard pending.count < LineReader.maxLine else { return nil }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            pending.append(contentsOf: chunk[..<n])
        }
    }
}

// Glibc's `connect` and `listen` are shadowed by our own names inside `UnixSocket`.
@inline(__always) private func Glibc_connect(_ fd: Int32, _ addr: UnsafePointer<sockaddr>, _ len: socklen_t) -> Int32 {
    connect(fd, addr, len)
}
@inline(__always) private func Glibc_listen(_ fd: Int32, _ backlog: Int32) -> Int32 {
    listen(fd, backlog)
}
