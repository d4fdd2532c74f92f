// Descriptors with one owner, always close-on-exec from the moment they exist (pipe2, O_CLOEXEC, F_DUPFD_CLOEXEC:
// never pipe() + fcntl, which races another thread's spawn and leaks the write end into its child).
import CPPSys
import Glibc
import SystemPackage

@_exported import struct SystemPackage.Errno
@_exported import struct SystemPackage.FileDescriptor

/// Calls `body` until it returns something other than -1 with EINTR; -1 with another errno throws that errno, read
/// at once.
@inline(__always)
func retryingInterrupts<T: FixedWidthInteger>(_ body: () -> T) throws(Errno) -> T {
    while true {
        let r = body()
        if r != -1 { return r }
        let e = Errno(rawValue: errno)
        if e != .interrupted { throw e }
    }
}

/// A descriptor this value alone owns: closed exactly once, when the value ends (or by `close()`/`release()`).
@frozen public struct OwnedDescriptor: ~Copyable, Sendable {
    /// The descriptor, for calls that borrow it; it stays owned here.
    public let fd: FileDescriptor
    /// The raw number, for calls that borrow it.
    public var raw: Int32 { fd.rawValue }

    /// Takes ownership of `raw`.
    public init(taking raw: Int32) { fd = FileDescriptor(rawValue: raw) }

    deinit { _ = Glibc.close(fd.rawValue) }

    /// Closes now.
    public consuming func close() {}

    /// Gives the descriptor up without closing it (to an owner outside this module, e.g. NIO).
    public consuming func release() -> Int32 {
        let r = fd.rawValue
        discard self
        return r
    }

    /// Opens `path` close-on-exec.
    public static func open(_ path: String, _ mode: FileDescriptor.AccessMode) throws(Errno) -> OwnedDescriptor {
        OwnedDescriptor(taking: try retryingInterrupts { Glibc.open(path, mode.rawValue | O_CLOEXEC) })
    }

    /// A close-on-exec copy of `raw` numbered `minimum` or above (so a child's dup2 onto 0-2 cannot clobber it).
    public static func duplicate(_ raw: Int32, atLeast minimum: Int32 = 3) throws(Errno) -> OwnedDescriptor {
        OwnedDescriptor(taking: try retryingInterrupts { fcntl(raw, F_DUPFD_CLOEXEC, minimum) })
    }

    /// A close-on-exec pipe, both ends numbered 3 or above.
    public static func pipe(nonBlocking: Bool = false) throws(Errno) -> Pipe {
        var fds: (Int32, Int32) = (-1, -1)
        _ = try withUnsafeMutableBytes(of: &fds) { (raw) throws(Errno) in
            try retryingInterrupts {
                ppsys_pipe_cloexec(raw.baseAddress!.assumingMemoryBound(to: Int32.self), nonBlocking ? 1 : 0)
            }
        }
        var read = OwnedDescriptor(taking: fds.0)
        var write = OwnedDescriptor(taking: fds.1)
        if fds.0 < 3 { read = try duplicate(fds.0) }
        if fds.1 < 3 { write = try duplicate(fds.1) }
        return Pipe(read: read, write: write)
    }

    /// An eventfd (close-on-exec, non-blocking): a counter other threads bump to wake a poll.
    public static func eventFD() throws(Errno) -> OwnedDescriptor {
        OwnedDescriptor(taking: try retryingInterrupts { ppsys_eventfd() })
    }

    /// Makes descriptor `target` (0, 1, 2 ...) a copy of this one (dup2); `target` is not owned here.
    public func duplicate(onto target: Int32) throws(Errno) { try Self.redirect(fd.rawValue, onto: target) }

    /// Makes descriptor `target` a copy of `source` (dup2); neither is owned here (e.g. stdout onto stderr).
    public static func redirect(_ source: Int32, onto target: Int32) throws(Errno) {
        _ = try retryingInterrupts { dup2(source, target) }
    }

    /// Whether close-on-exec is set (it always is; tests check it).
    public var isCloseOnExec: Bool { fcntl(fd.rawValue, F_GETFD) & FD_CLOEXEC != 0 }
}

/// The two ends of a pipe, each with its one owner.
@frozen public struct Pipe: ~Copyable, Sendable {
    public var read: OwnedDescriptor
    public var write: OwnedDescriptor
}

/// Waits until `fd` is readable or `milliseconds` pass (-1: no limit); true if readable.
public func waitReadable(_ fd: Int32, milliseconds: Int32) -> Bool {
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    let n = try? retryingInterrupts { poll(&p, 1, milliseconds) }
    return (n ?? 0) > 0
}
