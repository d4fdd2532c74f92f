import Glibc
import PPSystem

/// Stage timestamps for measuring how fast `ppdash ipp` shows a completion (bench/ipp_keepup.py --trace): off
/// unless `PPDASH_IPP_TRACE` names a file, then one line per event is appended to it (wall-clock microseconds,
/// the clock of the hub's `completed`):
///
/// - `io MSG_ID DATE RECV APPLIED`: an IOPub `idle` (the engine is done): its header date (the engine's clock),
///   when its frames came off the socket, when the mirror had applied it;
/// - `turn START POLLED END REG_MSGS IO_MSGS REG_US`: a turn of the poll loop that received something: its
///   start, when the poll returned, its end, the messages received on the registration (db replies) and IOPub
///   sockets, and the microseconds spent on the registration socket's replies (which IOPub waits behind);
/// - `out MSG_ID AT`: `--follow` flushed a line showing the task finished;
/// - `db KIND RECORDS AT`: a db reply arrived with this many records (each one a copy of the hub's whole record:
///   what watching costs the controller per task).
public final class IPPTrace: Sendable {
    /// The trace the environment asks for, or nil (the usual case: nothing is measured or written).
    public static let shared: IPPTrace? = {
        guard let p = getenv("PPDASH_IPP_TRACE"), p[0] != 0 else { return nil }
        let fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        return fd < 0 ? nil : IPPTrace(fd: fd)
    }()

    let fd: Int32
    init(fd: Int32) { self.fd = fd }

    /// The wall clock in microseconds.
    @inline(__always) public static func now() -> Int64 { SystemTime.wallMicroseconds() }

    /// Appends `lines` (each without its newline) in one write.
    public func write(_ lines: [String]) {
        guard !lines.isEmpty else { return }
        var bytes = Array(lines.joined(separator: "\n").utf8)
        bytes.append(10)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            off += n
        }
    }
}
