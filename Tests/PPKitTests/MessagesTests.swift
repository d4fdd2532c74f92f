import Foundation
import NIOCore
import PPSystem
import Testing
@testable import PPKit

@Suite("messages a person can use")
struct MessagesTests {
    @Test("a long command is cut: its head, then how many bytes were left out; a short one is whole")
    func commandCut() {
        #expect(Messages.quoted(command: "echo hi") == "echo hi")
        let long = "echo " + String(repeating: "x", count: 1_000_000)
        let q = Messages.quoted(command: long)
        #expect(q.utf8.count < Messages.commandLimit + 40, "cut to about the limit: \(q.utf8.count) bytes")
        #expect(q.hasPrefix("echo xxx"))
        #expect(q.hasSuffix("... (\(long.utf8.count - Messages.commandLimit) more bytes)"), "\(q.suffix(40))")
        // Never cuts a character in half; newlines stay on one line.
        let wide = String(repeating: "é", count: 150)  // 300 bytes
        let w = Messages.quoted(command: wide)
        #expect(w.hasPrefix(String(repeating: "é", count: 100) + "... (100 more bytes)"), "\(w)")
        #expect(Messages.quoted(command: "a\nb") == "a\\nb")
    }

    @Test("Foundation and system errors are said in plain words: no error domain, no ioctl jargon")
    func plainWords() {
        let cocoa = CocoaError(
            .fileWriteUnknown,
            userInfo: [NSFilePathErrorKey: "/x/y", NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(EACCES))])
        let t = Messages.text(of: cocoa)
        #expect(t == "/x/y: Permission denied", "\(t)")
        let bare = Messages.text(of: CocoaError(.fileWriteOutOfSpace))
        #expect(!bare.contains("NSCocoaErrorDomain") && bare.contains("no space"), "\(bare)")
        // What Foundation's own createDirectory throws on a path under a file.
        var thrown: (any Error)?
        do { try FileManager.default.createDirectory(atPath: "/dev/null/x", withIntermediateDirectories: true) } catch { thrown = error }
        if let thrown {
            let s = Messages.text(of: thrown)
            #expect(!s.contains("Domain") && !s.contains("operation couldn"), "\(s)")
        }
        #expect(Messages.text(of: Errno(rawValue: ENOTTY)) == "not a terminal")
        #expect(!Messages.text(of: IOError(errnoCode: ENOTTY, reason: "fcntl")).contains("ioctl"))
        #expect(SystemFacts.errorText(E2BIG).contains("too long"))
    }

    @Test("no message in Sources is built from localizedDescription (Foundation's domain wording)")
    func noLocalizedDescription() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let sources = root.appendingPathComponent("Sources").path
        guard let walk = FileManager.default.enumerator(atPath: sources) else {
            Issue.record("cannot list \(sources)")
            return
        }
        var found: [String] = []
        var count = 0
        while let f = walk.nextObject() as? String {
            guard f.hasSuffix(".swift") else { continue }
            count += 1
            let text = try String(contentsOfFile: sources + "/" + f, encoding: .utf8)
            if text.contains("localizedDescription") { found.append(f) }
        }
        #expect(count > 50, "found the sources (\(count) files)")
        #expect(found.isEmpty, "use Messages.text(of:) instead: \(found)")
    }
}
