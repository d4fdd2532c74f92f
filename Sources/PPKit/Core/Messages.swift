// The words of error messages: a command quoted in one is cut, and an error from the system or Foundation is said
// in plain words (never "NSCocoaErrorDomain error 512" or a raw errno name the user cannot act on).
import Foundation
import NIOCore
import PPSystem

public enum Messages {
    /// Bytes of a command shown in an error message before it is cut.
    public static let commandLimit = 200

    /// `command` as an error message quotes it: whole up to `limit` bytes, else its head (cut at a character
    /// boundary) and how many bytes were left out. Newlines are shown as `\n`, so the message stays one line.
    public static func quoted(command: String, limit: Int = commandLimit) -> String {
        // Bytes that are not UTF-8 are shown as U+FFFD (a message is text; the task got the bytes).
        let text = ByteText.lossy(command)
        let flat = text.contains("\n") ? text.replacingOccurrences(of: "\n", with: "\\n") : text
        let bytes = flat.utf8.count
        guard bytes > limit else { return flat }
        var head = Substring(flat)
        var used = 0
        var end = head.startIndex
        for c in flat {
            let n = c.utf8.count
            if used + n > limit { break }
            used += n
            end = flat.index(after: end)
        }
        head = flat[..<end]
        return "\(head)... (\(bytes - used) more bytes)"
    }

    /// What `error` means, in words a person can act on: the errno text behind a Foundation or system error,
    /// else the error's own description.
    public static func text(of error: any Error) -> String {
        if let e = error as? Errno { return SystemFacts.errorText(e.rawValue) }
        if let e = error as? IOError { return SystemFacts.errorText(e.errnoCode) }
        if let e = error as? CocoaError {
            let path = (e.userInfo[NSFilePathErrorKey] as? String).map { "\($0): " } ?? ""
            if let u = e.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain {
                return path + SystemFacts.errorText(Int32(u.code))
            }
            return path + cocoaText(e.code)
        }
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return SystemFacts.errorText(Int32(ns.code)) }
        return "\(error)"
    }

    private static func cocoaText(_ code: CocoaError.Code) -> String {
        switch code {
        case .fileNoSuchFile, .fileReadNoSuchFile: "no such file or directory"
        case .fileReadNoPermission, .fileWriteNoPermission: "permission denied"
        case .fileWriteOutOfSpace: "no space left on the device"
        case .fileWriteVolumeReadOnly: "read-only file system"
        case .fileWriteFileExists: "it already exists"
        case .fileReadCorruptFile: "the file is damaged"
        case .fileReadInapplicableStringEncoding, .fileWriteInapplicableStringEncoding: "the text is not UTF-8"
        default: "the file operation failed (code \(code.rawValue))"
        }
    }
}
