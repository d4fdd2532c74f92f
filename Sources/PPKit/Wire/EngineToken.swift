import Crypto
import Foundation

import Glibc

/// The shared secret of `listen` engines: workers prove they hold it with an HMAC; it never crosses the wire.
public struct EngineToken: Sendable, Hashable {
    /// The secret as written in the token file (hex by default; any line of 16+ characters works).
    let secret: [UInt8]

    public init(secret: String) throws(PPError) {
        let s = secret.trimmingCharacters(in: .whitespacesAndNewlines)
        guard s.utf8.count >= 16 else {
            throw PPError(.invalidArgument, "the engine token is too short (\(s.utf8.count) characters; at least 16)")
        }
        self.secret = Array(s.utf8)
    }

    /// A fresh random token: 32 bytes from the system's generator, as hex.
    public static func random() -> EngineToken {
        var rng = SystemRandomNumberGenerator()
        let hex = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
        return try! EngineToken(secret: hex)
    }

    /// A fresh nonce for a challenge.
    static func nonce() -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    /// What a worker sends: HMAC-SHA256 over the listener's nonce and its own.
    func workerProof(challenge: [UInt8], workerNonce: [UInt8]) -> [UInt8] {
        mac("ppdash engine worker", challenge, workerNonce)
    }

    /// What the listener sends back, so the worker knows it talks to the token's holder.
    func schedulerProof(challenge: [UInt8], workerNonce: [UInt8]) -> [UInt8] {
        mac("ppdash engine scheduler", workerNonce, challenge)
    }

    /// Constant-time check of a worker's proof.
    func verifyWorker(_ proof: [UInt8], challenge: [UInt8], workerNonce: [UInt8]) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(
            proof, authenticating: message("ppdash engine worker", challenge, workerNonce), using: key)
    }

    /// Constant-time check of the scheduler's proof.
    func verifyScheduler(_ proof: [UInt8], challenge: [UInt8], workerNonce: [UInt8]) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(
            proof, authenticating: message("ppdash engine scheduler", workerNonce, challenge), using: key)
    }

    private var key: SymmetricKey { SymmetricKey(data: secret) }

    private func message(_ label: String, _ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        Array(label.utf8) + [0, UInt8(truncatingIfNeeded: WireProtocol.version)] + a + b
    }

    private func mac(_ label: String, _ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message(label, a, b), using: key))
    }

    /// Reads the token at `path`; refuses a file that is not the user's own regular file (a symlink included), that
    /// others may read, or that sits in a directory others may write (they could replace it).
    public static func read(path: String) throws(PPError) -> EngineToken {
        try checkDirectory(of: path)
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ELOOP { throw PPError(.invalidArgument, "the token file \(path) is a symbolic link: give the file itself") }
            throw PPError(.invalidArgument, "cannot read the token file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw PPError(.invalidArgument, "cannot read the token file \(path): \(String(cString: strerror(errno)))")
        }
        try checkFile(st, path: path)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count <= maxFileSize {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                throw PPError(.invalidArgument, "cannot read the token file \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes += chunk[..<n]
        }
        guard bytes.count <= maxFileSize else {
            throw PPError(.invalidArgument, "the token file \(path) is over \(maxFileSize) bytes: it holds one line")
        }
        return try EngineToken(secret: String(decoding: bytes, as: UTF8.self))
    }

    /// The most bytes a token file may hold: one line.
    static let maxFileSize = 4096

    /// The token file itself: a regular file of ours, no access for group or others.
    static func checkFile(_ st: stat, path: String) throws(PPError) {
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw PPError(.invalidArgument, "the token file \(path) is not a regular file")
        }
        guard st.st_uid == geteuid() else {
            throw PPError(
                .invalidArgument,
                "the token file \(path) belongs to user \(st.st_uid), not to you (\(geteuid())): use a token file of your own")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw PPError(
                .invalidArgument,
                "the token file \(path) may be read by others (mode \(String(st.st_mode & 0o777, radix: 8))): run chmod 600 \(path)"
            )
        }
    }

    /// The token file's directory: only the user (or root) may write it, so nobody else can put a file in its place.
    static func checkDirectory(of path: String) throws(PPError) {
        let dir = directory(of: path)
        var st = stat()
        guard stat(dir, &st) == 0 else {
            throw PPError(.invalidArgument, "cannot use \(dir) for the token file: \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw PPError(.invalidArgument, "\(dir), the token file's directory, is not a directory")
        }
        guard st.st_uid == geteuid() || st.st_uid == 0 else {
            throw PPError(
                .invalidArgument,
                "the token file's directory \(dir) belongs to user \(st.st_uid), not to you: keep the token in a directory of your own")
        }
        guard st.st_mode & 0o022 == 0 else {
            throw PPError(
                .invalidArgument,
                "others may write the token file's directory \(dir) (mode \(String(st.st_mode & 0o7777, radix: 8))): run chmod go-w \(dir) or keep the token elsewhere"
            )
        }
    }

    static func directory(of path: String) -> String {
        let dir = (path as NSString).deletingLastPathComponent
        return dir.isEmpty ? "." : dir
    }

    /// Reads the token at `path`, or creates the file (mode 0600, its directory 0700 if new) with a fresh token.
    public static func readOrCreate(path: String) throws(PPError) -> EngineToken {
        var st = stat()
        if lstat(path, &st) == 0 { return try read(path: path) }
        let dir = directory(of: path)
        if access(dir, F_OK) != 0 {
            do {
                try FileManager.default.createDirectory(
                    atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw PPError(
                    .invalidArgument, "cannot create \(dir) for the token file: \(Messages.text(of: error))")
            }
        }
        try checkDirectory(of: path)
        let token = random()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST { return try read(path: path) }
            throw PPError(.invalidArgument, "cannot create the token file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        fchmod(fd, 0o600)
        let line = Array((String(decoding: token.secret, as: UTF8.self) + "\n").utf8)
        let n = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard n == line.count else {
            unlink(path)
            throw PPError(.invalidArgument, "cannot write the token file \(path): \(String(cString: strerror(errno)))")
        }
        return token
    }

    /// Where `listen` keeps its token unless `--token-file` says otherwise: `~/.ppdash/engine-token`; with HOME
    /// unset, `$XDG_RUNTIME_DIR/ppdash/engine-token` when that directory is the user's own and 0700. Never a
    /// predictable place under the shared temporary directory, where another user could plant a token first.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(PPError) -> String
    {
        if let home = environment["HOME"], !home.isEmpty { return home + "/.ppdash/engine-token" }
        if let run = environment["XDG_RUNTIME_DIR"], run.hasPrefix("/") {
            var st = stat()
            if stat(run, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == geteuid(), st.st_mode & 0o077 == 0 {
                return run + "/ppdash/engine-token"
            }
        }
        throw PPError(
            .invalidArgument,
            "HOME is not set, so there is no default token file: set HOME, or XDG_RUNTIME_DIR to a directory of yours (mode 0700), or give --token-file FILE"
        )
    }
}
