// The one raw TCP call: whether a port accepts connections (the ipp source's check on a silent controller).
import Glibc

/// Whether a TCP connection to `host`:`port` succeeds within `milliseconds` (any of the host's addresses).
public func tcpPortAccepts(host: String, port: Int, milliseconds: Int32 = 1000) -> Bool {
    var hints = addrinfo()
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var res: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, String(port), &hints, &res) == 0, let first = res else { return false }
    defer { freeaddrinfo(res) }
    var p: UnsafeMutablePointer<addrinfo>? = first
    while let a = p {
        p = a.pointee.ai_next
        let flags = a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        guard let s = try? retryingInterrupts({ socket(a.pointee.ai_family, flags, a.pointee.ai_protocol) }) else {
            continue
        }
        let sock = OwnedDescriptor(taking: s)
        if connect(sock.raw, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return true }
        guard errno == EINPROGRESS else { continue }
        var pfd = pollfd(fd: sock.raw, events: Int16(POLLOUT), revents: 0)
        if (try? retryingInterrupts({ poll(&pfd, 1, milliseconds) })) == 1 {
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            if getsockopt(sock.raw, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0 { return true }
        }
    }
    return false
}
