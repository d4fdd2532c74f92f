// Files of our own: created exclusively with a private mode, in directories only this user can write.
import Glibc

extension OwnedDescriptor {
    /// Creates `path` for writing, exclusively (O_EXCL: an existing file or link is never followed), close-on-exec.
    public static func createExclusive(_ path: String, mode: mode_t = 0o600) throws(Errno) -> OwnedDescriptor {
        OwnedDescriptor(
            taking: try retryingInterrupts { Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode) })
    }

    /// Opens `path` for reading, close-on-exec.
    public static func openForReading(_ path: String) throws(Errno) -> OwnedDescriptor {
        OwnedDescriptor(taking: try retryingInterrupts { Glibc.open(path, O_RDONLY | O_CLOEXEC) })
    }

    /// Reads up to `buffer.count` bytes; 0 at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try retryingInterrupts { Glibc.read(raw, buffer.baseAddress, buffer.count) }
    }
}

/// Files and directories by path.
public enum PrivateFiles {
    /// Creates directory `path` with mode 0700, or accepts it when it exists as a directory of this user that no one
    /// else can write.
    public static func makeDirectory(_ path: String) throws(Errno) {
        if mkdir(path, 0o700) == 0 { return }
        let e = errno
        guard e == EEXIST else { throw Errno(rawValue: e) }
        var st = stat()
        guard lstat(path, &st) == 0 else { throw Errno(rawValue: errno) }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw Errno.notDirectory }
        guard st.st_uid == geteuid(), st.st_mode & 0o022 == 0 else { throw Errno.permissionDenied }
    }

    /// A new directory (mode 0700) under $TMPDIR (or /tmp) named `prefix` plus six random characters.
    public static func makeTemporaryDirectory(prefix: String) throws(Errno) -> String {
        var base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        if base.isEmpty { base = "/tmp" }
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        var template = Array((base + "/" + prefix + "XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw Errno(rawValue: errno) }
        return String(decoding: template.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Removes the file `path`; false if it could not be removed (a missing file counts as removed).
    @discardableResult
    public static func remove(_ path: String) -> Bool { unlink(path) == 0 || errno == ENOENT }

    /// Removes the empty directory `path`; false if it is not empty or could not be removed.
    @discardableResult
    public static func removeEmptyDirectory(_ path: String) -> Bool { rmdir(path) == 0 }

    /// The names in directory `path` (not `.` and `..`); nil if it cannot be read.
    public static func names(in path: String) -> [String]? {
        guard let d = opendir(path) else { return nil }
        defer { closedir(d) }
        var out = [String]()
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }
}
