// A pseudo-terminal for a child to run on (the benchmark's and the tests' captures of the real dashboard).
import CPPSys
import Glibc

/// A new pty: the master end (close-on-exec, from the first moment) and the slave's path for the child to open.
public struct PseudoTerminal: ~Copyable {
    public let master: OwnedDescriptor
    public let slavePath: String

    /// Opens a pty of `rows` x `cols`.
    public init(rows: Int, cols: Int) throws(Errno) {
        var name = [CChar](repeating: 0, count: 256)
        let m = OwnedDescriptor(taking: try retryingInterrupts { ppsys_openpt(&name, name.count) })
        var ws = winsize(ws_row: UInt16(rows), ws_col: UInt16(cols), ws_xpixel: 0, ws_ypixel: 0)
        _ = try retryingInterrupts { ioctl(m.raw, UInt(TIOCSWINSZ), &ws) }
        slavePath = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        master = m
    }

    /// Closes the master (the child's side sees a hangup).
    public consuming func close() {}

    /// The descriptor plan that gives a child (spawned `.newSession`) this pty as its controlling terminal and its
    /// stdin, stdout and stderr.
    public var childDescriptors: [SpawnPlan.Descriptor] {
        [.open(slavePath, flags: O_RDWR, to: 0), .copy(0, to: 1), .copy(0, to: 2)]
    }
}
