// Bytes that may not be UTF-8 (arguments, file names, stdin lines) held in a Swift String without losing any.
import CPPSys
import Glibc

/// The one codec between the system's bytes and our Strings: every byte comes back exactly.
///
/// Swift's `String(decoding:as:)` and `CommandLine.arguments` replace invalid UTF-8 with U+FFFD, so `caf\xE9.txt`
/// would reach the task as `caf\u{FFFD}.txt`. Here valid UTF-8 decodes as itself, and each byte 0x80-0xFF that is
/// not part of a valid sequence becomes one reserved code point, U+10FF00 + byte (U+10FF80...U+10FFFF, the end of
/// plane 16's private use area), as Python's `surrogateescape` does with lone surrogates (which a Swift String
/// cannot hold). `bytes(of:)` maps those code points back. Bytes below 0x80 are always valid, so only these 128
/// code points are reserved.
///
/// The one limit: a genuine U+10FF80...U+10FFFF in valid input would read back as a raw byte. Such a character is
/// escaped too (its four bytes become four reserved code points), so it also comes back exactly; only its shown
/// form (`lossy`) is four U+FFFD instead of a private-use character nobody can see anyway.
///
/// Use `decode` wherever the system hands us bytes meant to go back to it (argv, stdin lines, environment), and
/// `bytes(of:)`/`withCString` wherever a String goes to the system (exec's argv, paths), `lossy` wherever it is shown.
/// Over the engine wire a String carries its escapes as plain UTF-8; the journal and `--json` write `lossy` text plus
/// base64 of the bytes (`JSONObjectWriter.addBytes` in PPKit), so no file holds a reserved code point.
public enum ByteText {
    /// First of the reserved code points (byte 0x80); byte b is `base + b`.
    static let base: UInt32 = 0x10FF00
    /// The reserved range.
    public static let reserved: ClosedRange<UInt32> = 0x10FF80...0x10FFFF

    /// The String holding `bytes`: valid UTF-8 as itself, every other byte as its reserved code point.
    public static func decode<C: Collection<UInt8>>(_ bytes: C) -> String {
        if let s = bytes.withContiguousStorageIfAvailable(decode(buffer:)) { return s }
        return Array(bytes).withUnsafeBufferPointer(decode(buffer:))
    }

    static func decode(buffer buf: UnsafeBufferPointer<UInt8>) -> String {
        if isPlain(buf) { return String(decoding: buf, as: UTF8.self) }
        var out = [UInt8]()
        out.reserveCapacity(buf.count + buf.count / 2)
        var i = 0
        while i < buf.count {
            let n = validLength(buf, at: i)
            if n > 0 && !(n == 4 && isReservedSequence(buf, at: i)) {
                out.append(contentsOf: buf[i..<(i + n)])
                i += n
            } else {
                appendEscape(buf[i], to: &out)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The NUL-terminated C string `p` as a String (bytes kept).
    public static func decode(cString p: UnsafePointer<CChar>) -> String {
        decode(UnsafeRawBufferPointer(start: p, count: strlen(p)).bindMemory(to: UInt8.self))
    }

    /// The bytes `s` stands for: its UTF-8, with each reserved code point turned back into its byte.
    public static func bytes(of s: String) -> [UInt8] {
        if !hasEscapes(s) { return Array(s.utf8) }
        var out = [UInt8]()
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            if reserved.contains(u.value) {
                out.append(UInt8(truncatingIfNeeded: u.value - base))
            } else {
                out.append(contentsOf: String(u).utf8)
            }
        }
        return out
    }

    /// True when `s` holds a reserved code point, i.e. its bytes are not its UTF-8 (not shown exactly as text).
    public static func hasEscapes(_ s: String) -> Bool {
        // Every reserved code point's UTF-8 is F4 8F BE|BF xx; F4 starts nothing else this short of the top.
        var u = s.utf8.makeIterator()
        while let c = u.next() {
            guard c == 0xF4 else { continue }
            if u.next() == 0x8F, let c3 = u.next(), c3 == 0xBE || c3 == 0xBF { return true }
        }
        return false
    }

    /// `s` for a reader of text: each reserved code point (a byte that is not UTF-8) shown as U+FFFD, as
    /// `String(decoding:as:)` would have shown the bytes.
    public static func lossy(_ s: String) -> String {
        guard hasEscapes(s) else { return s }
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars { out.append(reserved.contains(u.value) ? "\u{FFFD}" : u) }
        return String(out)
    }

    /// Calls `body` with `s`'s bytes as a NUL-terminated C string (for paths given to the system).
    public static func withCString<R>(_ s: String, _ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        if !hasEscapes(s) { return try s.withCString(body) }
        var b = bytes(of: s)
        b.append(0)
        return try b.withUnsafeBufferPointer { buf in
            try buf.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
        }
    }

    /// This process's arguments (argv[0] first), read from argv itself so no byte is lost.
    public static var commandLine: [String] {
        (0..<Int(CommandLine.argc)).map { i in CommandLine.unsafeArgv[i].map { decode(cString: $0) } ?? "" }
    }

    // MARK: - UTF-8 validation (Unicode's table 3-7 of well-formed byte sequences)

    /// True when `b` is valid UTF-8 holding no reserved code point: then the String is just its UTF-8.
    static func isPlain(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        while i < b.count {
            if b[i] < 0x80 {
                i += 1
                continue
            }
            let n = validLength(b, at: i)
            if n == 0 || (n == 4 && isReservedSequence(b, at: i)) { return false }
            i += n
        }
        return true
    }

    /// The length of the valid UTF-8 sequence at `i`, or 0.
    static func validLength(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        let c = b[i]
        func cont(_ k: Int, _ r: ClosedRange<UInt8> = 0x80...0xBF) -> Bool { i + k < b.count && r.contains(b[i + k]) }
        switch c {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: return cont(1) ? 2 : 0
        case 0xE0: return cont(1, 0xA0...0xBF) && cont(2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return cont(1) && cont(2) ? 3 : 0
        case 0xED: return cont(1, 0x80...0x9F) && cont(2) ? 3 : 0
        case 0xF0: return cont(1, 0x90...0xBF) && cont(2) && cont(3) ? 4 : 0
        case 0xF1...0xF3: return cont(1) && cont(2) && cont(3) ? 4 : 0
        case 0xF4: return cont(1, 0x80...0x8F) && cont(2) && cont(3) ? 4 : 0
        default: return 0
        }
    }

    /// A valid 4-byte sequence at `i` encoding a reserved code point (F4 8F BE|BF xx).
    static func isReservedSequence(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Bool {
        b[i] == 0xF4 && b[i + 1] == 0x8F && b[i + 2] >= 0xBE
    }

    /// Appends the UTF-8 of U+10FF00 + `byte`.
    static func appendEscape(_ byte: UInt8, to out: inout [UInt8]) {
        out.append(0xF4)
        out.append(0x8F)
        out.append(0xBC | (byte >> 6))
        out.append(0x80 | (byte & 0x3F))
    }
}

extension SystemFacts {
    /// This process's working directory, bytes kept (Foundation's `currentDirectoryPath` turns bytes that are not
    /// UTF-8 into U+FFFD, so a task could not `cd` back there); "/" if it cannot be read.
    public static var currentDirectory: String {
        guard let p = getcwd(nil, 0) else { return "/" }
        defer { free(p) }
        return ByteText.decode(cString: p)
    }

    /// Our value of environment variable `name`, bytes kept; nil when unset.
    public static func environment(_ name: String) -> String? {
        getenv(name).map { ByteText.decode(cString: $0) }
    }
}

extension SystemFacts {
    /// True when `path` (its bytes, see ByteText) names a directory.
    public static func isDirectory(_ path: String) -> Bool { ByteText.isDirectory(path) }

    /// True when we may `cd` into `path` (its bytes): access(X_OK).
    public static func canEnter(_ path: String) -> Bool { ByteText.withCString(path) { access($0, X_OK) == 0 } }
}

extension ByteText {
    static func isDirectory(_ path: String) -> Bool {
        withCString(path) { p in
            var st = stat()
            return stat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
        }
    }
}
