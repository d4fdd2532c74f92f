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

    /// Reads the token at `path`; refuses a file that others may read.
    public static func read(path: String) throws(PPError) -> EngineToken {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw PPError(.invalidArgument, "cannot read the token file \(path): \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw PPError(.invalidArgument, "the token file \(path) is not a regular file")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw PPError(
                .invalidArgument,
                "the token file \(path) may be read by others (mode \(String(st.st_mode & 0o777, radix: 8))): run chmod 600 \(path)"
            )
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PPError(.invalidArgument, "cannot read the token file \(path)")
        }
        return try EngineToken(secret: String(decoding: data, as: UTF8.self))
    }

    /// Reads the token at `path`, or creates the file (mode 0600, its directory 0700 if new) with a fresh token.
    public static func readOrCreate(path: String) throws(PPError) -> EngineToken {
        if access(path, F_OK) == 0 { return try read(path: path) }
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty, access(dir, F_OK) != 0 {
            do {
                try FileManager.default.createDirectory(
                    atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw PPError(
                    .invalidArgument, "cannot create \(dir) for the token file: \(Messages.text(of: error))")
            }
        }
        let token = random()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
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

    /// Where `listen` keeps its token unless `--token-file` says otherwise.
    public static var defaultPath: String {
        let home =
            ProcessInfo.processInfo.environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSTemporaryDirectory()
        return home + "/.ppdash/engine-token"
    }
}
