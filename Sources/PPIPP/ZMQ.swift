// libzmq, loaded at run time (dlopen), so that building and running the rest of ppdash never needs it.
import Foundation
import Glibc

/// Why ZeroMQ could not be used.
public struct ZMQError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The handful of libzmq functions ppdash calls, looked up with dlsym.
public struct ZMQLibrary: Sendable {
    typealias CtxNew = @Sendable @convention(c) () -> UnsafeMutableRawPointer?
    typealias PtrToInt = @Sendable @convention(c) (UnsafeMutableRawPointer?) -> Int32
    typealias Socket = @Sendable @convention(c) (UnsafeMutableRawPointer?, Int32) -> UnsafeMutableRawPointer?
    typealias SetOpt = @Sendable @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafeRawPointer?, Int) -> Int32
    typealias Connect = @Sendable @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Int32
    typealias Send = @Sendable @convention(c) (UnsafeMutableRawPointer?, UnsafeRawPointer?, Int, Int32) -> Int32
    typealias MsgRecv = @Sendable @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Int32) -> Int32
    typealias MsgData = @Sendable @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer?
    typealias MsgSize = @Sendable @convention(c) (UnsafeMutableRawPointer?) -> Int
    typealias Poll = @Sendable @convention(c) (UnsafeMutableRawPointer?, Int32, Int) -> Int32
    typealias Errno = @Sendable @convention(c) () -> Int32
    typealias StrError = @Sendable @convention(c) (Int32) -> UnsafePointer<CChar>?
    typealias Version = @Sendable @convention(c) (
        UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int32>?
    ) -> Void

    let ctxNew: CtxNew
    let ctxTerm: PtrToInt
    let newSocket: Socket
    let close: PtrToInt
    let setsockopt: SetOpt
    let connect: Connect
    let send: Send
    let msgInit: PtrToInt
    let msgRecv: MsgRecv
    let msgData: MsgData
    let msgSize: MsgSize
    let msgMore: PtrToInt
    let msgClose: PtrToInt
    let poll: Poll
    let errno: Errno
    let strerror: StrError
    let versionFn: Version
    /// The file it was loaded from.
    public let path: String

    /// libzmq's version as `major.minor.patch`.
    public var version: String {
        var a: Int32 = 0
        var b: Int32 = 0
        var c: Int32 = 0
        versionFn(&a, &b, &c)
        return "\(a).\(b).\(c)"
    }

    /// The last error's text.
    func lastError() -> String {
        let e = errno()
        return strerror(e).map { String(cString: $0) } ?? "zmq error \(e)"
    }

    /// Loads libzmq: `$PPDASH_LIBZMQ`, then the system's `libzmq.so.5`, then one bundled with pyzmq in a Python env.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ZMQLibrary {
        var tried: [String] = []
        for path in candidates(environment: environment) {
            tried.append(path)
            guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else { continue }
            if let lib = bind(handle, path: path) { return lib }
            dlclose(handle)
        }
        throw ZMQError(
            "libzmq not found (tried \(tried.prefix(3).joined(separator: ", "))\(tried.count > 3 ? ", ..." : "")): "
                + "install it with 'apt-get install libzmq5' (Debian/Ubuntu), or point PPDASH_LIBZMQ at a libzmq.so "
                + "(a Python env with pyzmq ships one under site-packages/pyzmq.libs/)")
    }

    /// Where to look, in order.
    static func candidates(environment env: [String: String]) -> [String] {
        var out: [String] = []
        if let p = env["PPDASH_LIBZMQ"], !p.isEmpty { out.append(p) }
        out += ["libzmq.so.5", "libzmq.so"]
        // Python environments: the active venv or conda env, the one ppdash's tests use, and those of python3 and
        // ipcluster on PATH.
        var prefixes: [String] = []
        for key in ["VIRTUAL_ENV", "CONDA_PREFIX"] { if let p = env[key], !p.isEmpty { prefixes.append(p) } }
        if let py = env["PPDASH_IPP_PYTHON"], !py.isEmpty {
            prefixes.append(URL(fileURLWithPath: py).resolvingSymlinksInPath().deletingLastPathComponent()
                .deletingLastPathComponent().path)
            prefixes.append(URL(fileURLWithPath: py).deletingLastPathComponent().deletingLastPathComponent().path)
        }
        for dir in (env["PATH"] ?? "").split(separator: ":") {
            for exe in ["ipcluster", "python3"] {
                let p = dir + "/" + exe
                if FileManager.default.isExecutableFile(atPath: p) {
                    prefixes.append(URL(fileURLWithPath: String(dir)).deletingLastPathComponent().path)
                    break
                }
            }
        }
        var seen = Set<String>()
        for prefix in prefixes where seen.insert(prefix).inserted {
            out += bundled(under: prefix)
        }
        return out
    }

    /// libzmq copies bundled by pyzmq wheels under `prefix/lib*/python3*/site-packages`.
    static func bundled(under prefix: String) -> [String] {
        let fm = FileManager.default
        var out: [String] = []
        if fm.fileExists(atPath: prefix + "/lib/libzmq.so.5") { out.append(prefix + "/lib/libzmq.so.5") }
        for lib in ["lib", "lib64"] {
            let base = prefix + "/" + lib
            guard let pys = try? fm.contentsOfDirectory(atPath: base) else { continue }
            for py in pys.sorted() where py.hasPrefix("python3") {
                let site = base + "/" + py + "/site-packages"
                for sub in ["pyzmq.libs", "zmq", "zmq/.dylibs"] {
                    guard let files = try? fm.contentsOfDirectory(atPath: site + "/" + sub) else { continue }
                    for f in files.sorted() where f.hasPrefix("libzmq") && (f.contains(".so") || f.hasSuffix(".dylib")) {
                        out.append(site + "/" + sub + "/" + f)
                    }
                }
            }
        }
        return out
    }

    private static func bind(_ h: UnsafeMutableRawPointer, path: String) -> ZMQLibrary? {
        func f<T>(_ name: String, _: T.Type) -> T? {
            guard let p = dlsym(h, name) else { return nil }
            return unsafeBitCast(p, to: T.self)
        }
        guard let ctxNew = f("zmq_ctx_new", CtxNew.self), let ctxTerm = f("zmq_ctx_term", PtrToInt.self),
            let socket = f("zmq_socket", Socket.self), let close = f("zmq_close", PtrToInt.self),
            let setsockopt = f("zmq_setsockopt", SetOpt.self), let connect = f("zmq_connect", Connect.self),
            let send = f("zmq_send", Send.self), let msgInit = f("zmq_msg_init", PtrToInt.self),
            let msgRecv = f("zmq_msg_recv", MsgRecv.self), let msgData = f("zmq_msg_data", MsgData.self),
            let msgSize = f("zmq_msg_size", MsgSize.self), let msgMore = f("zmq_msg_more", PtrToInt.self),
            let msgClose = f("zmq_msg_close", PtrToInt.self), let poll = f("zmq_poll", Poll.self),
            let errno = f("zmq_errno", Errno.self), let strerror = f("zmq_strerror", StrError.self),
            let version = f("zmq_version", Version.self)
        else { return nil }
        return ZMQLibrary(
            ctxNew: ctxNew, ctxTerm: ctxTerm, newSocket: socket, close: close, setsockopt: setsockopt, connect: connect,
            send: send, msgInit: msgInit, msgRecv: msgRecv, msgData: msgData, msgSize: msgSize, msgMore: msgMore,
            msgClose: msgClose, poll: poll, errno: errno, strerror: strerror, versionFn: version, path: path)
    }
}

/// Socket types and options used here (values from zmq.h, stable across libzmq 3 and 4).
enum ZMQConst {
    static let sub: Int32 = 2
    static let dealer: Int32 = 5
    static let subscribe: Int32 = 6
    static let linger: Int32 = 17
    static let sndhwm: Int32 = 23
    static let rcvhwm: Int32 = 24
    static let sndmore: Int32 = 2
    static let dontwait: Int32 = 1
    static let pollin: Int16 = 1
    static let eagain: Int32 = 11
    static let eintr: Int32 = 4
}

/// A context and its sockets, used from one thread only (ZeroMQ sockets are not thread-safe).
final class ZMQContext {
    let lib: ZMQLibrary
    private var ctx: UnsafeMutableRawPointer?
    private let msg: UnsafeMutableRawPointer

    init(_ lib: ZMQLibrary) throws {
        self.lib = lib
        guard let c = lib.ctxNew() else { throw ZMQError("zmq_ctx_new failed: \(lib.lastError())") }
        ctx = c
        msg = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
    }

    deinit {
        if let ctx { _ = lib.ctxTerm(ctx) }
        msg.deallocate()
    }

    /// A connected socket; `subscribe` for SUB sockets (empty: everything).
    func openSocket(type: Int32, endpoint: String, subscribe: String? = nil) throws -> ZMQSocket {
        guard let s = lib.newSocket(ctx, type) else { throw ZMQError("zmq_socket failed: \(lib.lastError())") }
        var zero: Int32 = 0
        _ = lib.setsockopt(s, ZMQConst.linger, &zero, 4)
        _ = lib.setsockopt(s, ZMQConst.rcvhwm, &zero, 4)
        if let subscribe {
            let bytes = Array(subscribe.utf8)
            _ = bytes.withUnsafeBytes { lib.setsockopt(s, ZMQConst.subscribe, $0.baseAddress, $0.count) }
        }
        guard lib.connect(s, endpoint) == 0 else {
            let e = lib.lastError()
            _ = lib.close(s)
            throw ZMQError("cannot connect to \(endpoint): \(e)")
        }
        return ZMQSocket(handle: s, endpoint: endpoint)
    }

    func close(_ s: ZMQSocket) {
        if let h = s.handle { _ = lib.close(h) }
        s.handle = nil
    }

    /// Sends one multipart message; false if it would block.
    @discardableResult
    func send(_ s: ZMQSocket, _ frames: [[UInt8]]) -> Bool {
        guard let h = s.handle else { return false }
        for (i, f) in frames.enumerated() {
            let flags = (i < frames.count - 1 ? ZMQConst.sndmore : 0) | ZMQConst.dontwait
            while true {
                let rc = f.withUnsafeBytes { lib.send(h, $0.baseAddress, $0.count, flags) }
                if rc >= 0 { break }
                if lib.errno() == ZMQConst.eintr { continue }
                return false
            }
        }
        return true
    }

    /// Receives one multipart message without blocking; nil when none is waiting.
    func receive(_ s: ZMQSocket) -> [[UInt8]]? {
        guard let h = s.handle else { return nil }
        var frames: [[UInt8]] = []
        while true {
            _ = lib.msgInit(msg)
            let rc = lib.msgRecv(msg, h, ZMQConst.dontwait)
            if rc < 0 {
                _ = lib.msgClose(msg)
                if lib.errno() == ZMQConst.eintr { continue }
                return frames.isEmpty ? nil : frames
            }
            let n = lib.msgSize(msg)
            if n > 0, let p = lib.msgData(msg) {
                frames.append(Array(UnsafeRawBufferPointer(start: p, count: n)))
            } else {
                frames.append([])
            }
            let more = lib.msgMore(msg)
            _ = lib.msgClose(msg)
            if more == 0 { return frames }
        }
    }

    /// Waits up to `timeoutMs` for any of `sockets` to be readable; returns which are.
    func poll(_ sockets: [ZMQSocket], timeoutMs: Int) -> [Bool] {
        let n = sockets.count
        // zmq_pollitem_t on 64-bit POSIX: void *socket; int fd; short events; short revents (16 bytes).
        let items = UnsafeMutableRawPointer.allocate(byteCount: 16 * max(1, n), alignment: 8)
        defer { items.deallocate() }
        for (i, s) in sockets.enumerated() {
            let base = items + 16 * i
            base.storeBytes(of: s.handle, as: UnsafeMutableRawPointer?.self)
            base.storeBytes(of: Int32(-1), toByteOffset: 8, as: Int32.self)
            base.storeBytes(of: s.handle == nil ? 0 : ZMQConst.pollin, toByteOffset: 12, as: Int16.self)
            base.storeBytes(of: Int16(0), toByteOffset: 14, as: Int16.self)
        }
        let rc = lib.poll(items, Int32(n), timeoutMs)
        if rc <= 0 { return Array(repeating: false, count: n) }
        return (0..<n).map { i in
            (items + 16 * i).load(fromByteOffset: 14, as: Int16.self) & ZMQConst.pollin != 0
        }
    }
}

/// One ZeroMQ socket, owned by a `ZMQContext` on its thread.
final class ZMQSocket {
    fileprivate(set) var handle: UnsafeMutableRawPointer?
    let endpoint: String
    init(handle: UnsafeMutableRawPointer, endpoint: String) {
        self.handle = handle
        self.endpoint = endpoint
    }
}
