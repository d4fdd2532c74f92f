// The one raw TCP call: whether a port accepts connections (the ipp source's check on a silent controller).
import Glibc

/// What a TCP connection attempt found.
public enum TCPProbe: Sendable, Equatable {
    /// The connection succeeded.
    case accepts
    /// Every address refused it (ECONNREFUSED): nothing listens there.
    case refused
    /// No answer in time, unreachable, or the host did not resolve: nothing is known of the listener.
    case noAnswer
}

/// Whether a TCP connection to `host`:`port` succeeds within `milliseconds` (any of the host's addresses).
public func tcpPortAccepts(host: String, port: Int, milliseconds: Int32 = 1000) -> Bool {
    tcpProbe(host: host, port: port, milliseconds: milliseconds) == .accepts
}

/// Tries a TCP connection to `host`:`port` within `milliseconds` per address; `.refused` only when every address
/// refused (a full listen backlog of a hung listener times out instead).
public func tcpProbe(host: String, port: Int, milliseconds: Int32 = 1000) -> TCPProbe {
    var hints = addrinfo()
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var res: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, String(port), &hints, &res) == 0, let first = res else { return .noAnswer }
    defer { freeaddrinfo(res) }
    var p: UnsafeMutablePointer<addrinfo>? = first
    var allRefused = true
    while let a = p {
        p = a.pointee.ai_next
        let flags = a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        guard let s = try? retryingInterrupts({ socket(a.pointee.ai_family, flags, a.pointee.ai_protocol) }) else {
            allRefused = false
            continue
        }
        let sock = OwnedDescriptor(taking: s)
        if connect(sock.raw, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return .accepts }
        guard errno == EINPROGRESS else {
            if errno != ECONNREFUSED { allRefused = false }
            continue
        }
        var pfd = pollfd(fd: sock.raw, events: Int16(POLLOUT), revents: 0)
        guard (try? retryingInterrupts({ poll(&pfd, 1, milliseconds) })) == 1 else {
            allRefused = false
            continue
        }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(sock.raw, SOL_SOCKET, SO_ERROR, &err, &len) == 0 else {
            allRefused = false
            continue
        }
        if err == 0 { return .accepts }
        if err != ECONNREFUSED { allRefused = false }
    }
    return allRefused ? .refused : .noAnswer
}
