import Glibc
import PPSystem

/// Waits up to `seconds` for `condition`, polling.
func eventually(_ seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let end = SystemTime.monotonicSeconds() + seconds
    while SystemTime.monotonicSeconds() < end {
        if condition() { return true }
        Timings.sleep(0.005)
    }
    return condition()
}

/// Whether `fd` is an open descriptor.
func isOpen(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) != -1 }

/// A child running `sh -c script`, its stdout on a pipe.
final class Shell {
    let child: ChildProcess
    let out: OwnedDescriptor
    init(_ script: String, grouping: SpawnPlan.Grouping = .newGroup) throws {
        let pipe = try OwnedDescriptor.pipe()
        child = try SpawnPlan(
            executable: "/bin/sh", arguments: ["sh", "-c", script], descriptors: [.copy(pipe.write.raw, to: 1)],
            grouping: grouping
        ).spawn()
        out = pipe.read
    }
}

/// Everything `fd` gives until end of file.
func readAll(_ fd: borrowing OwnedDescriptor) -> String {
    var bytes: [UInt8] = []
    let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
    defer { buf.deallocate() }
    while let n = try? fd.fd.read(into: buf), n > 0 { bytes += buf[0..<n] }
    return String(decoding: bytes, as: UTF8.self)
}
