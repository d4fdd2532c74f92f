// Raw Unix sockets for the state socket's tests: a viewer that never reads, a socket file left by a dead process.
import Glibc
import PPAttach

extension UnixSocket {
    private static func address(_ path: String) -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        return addr
    }

    private static func withAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var addr = address(path)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    /// A connected descriptor (the test closes it).
    static func connect(_ path: String) throws(Failure) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(call: "socket", code: errno) }
        guard withAddress(path, { Glibc.connect(fd, $0, $1) }) == 0 else {
            let e = errno
            close(fd)
            throw Failure(call: "connect", code: e)
        }
        return fd
    }

    /// A listening socket at `path` (closing it leaves the file behind, as a SIGKILL does).
    static func listen(_ path: String) throws(Failure) -> (fd: Int32, previous: Int) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(call: "socket", code: errno) }
        guard withAddress(path, { bind(fd, $0, $1) }) == 0, Glibc.listen(fd, 4) == 0 else {
            let e = errno
            close(fd)
            throw Failure(call: "bind", code: e)
        }
        return (fd, 0)
    }
}
