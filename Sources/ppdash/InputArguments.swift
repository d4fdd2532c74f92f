import ArgumentParser
import Glibc
import PPKit
import PPSystem
import Synchronization

/// run's GNU parallel input options (the input groups themselves, `:::` `:::+` `::::` `::::+`, follow the template).
struct InputArguments: ParsableArguments {
    @Option(
        name: [.customShort("a"), .customLong("arg-file")],
        help: ArgumentHelp("Read arguments from FILE, one per line (- is stdin); repeatable, as :::: FILE before the others.", valueName: "FILE"))
    var argFiles: [String] = []

    @Option(
        name: [.customShort("N"), .customLong("max-replace-args")], parsing: .unconditional,
        help: ArgumentHelp("N arguments per task: {1}..{N} (0: one task per argument, none given to it).", valueName: "N"))
    var perTask: Int?

    @Option(
        name: [.customShort("C"), .customLong("colsep")],
        help: ArgumentHelp("Split each argument into columns {1} {2} ... at this regular expression.", valueName: "REGEX"))
    var colsep: String?

    @Option(help: ArgumentHelp("':' : each input's first value names its columns ({name}) and runs nothing.", valueName: ":"))
    var header: String?

    @Option(
        name: [.customShort("d"), .customLong("delimiter")],
        help: ArgumentHelp("Items of files and stdin end with DELIM, not a newline (C escapes: '\\t', '\\0', '\\x1e').", valueName: "DELIM"))
    var delimiter: String?

    func validate() throws {
        if let h = header, h != ":" {
            throw ValidationError("--header \(ByteText.lossy(h)): only --header : is supported (the first value names the columns)")
        }
        if let n = perTask { try checkCount("-N", n, 0...1_000_000) }
    }

    /// The reading options; `null` is run's `-0`.
    func options(null: Bool) throws -> InputOptions {
        var o = InputOptions()
        if null && delimiter != nil { throw ValidationError("give -0 or -d DELIM, not both") }
        if null { o.delimiter = [0] }
        if let d = delimiter {
            do { o.delimiter = try InputOptions.delimiter(d) } catch { throw ValidationError(error.message) }
        }
        o.columnSeparator = colsep
        o.header = header != nil
        o.perTask = perTask
        return o
    }

    /// GNU parallel's options ppdash does not take, with what to do instead: refused in one line, never taken as
    /// part of the command.
    static let refused: [String: String] = {
        var r = [String: String]()
        func add(_ names: [String], _ why: String) { for n in names { r[n] = why } }
        add(["-X", "--xargs", "-m"], "filling a command line with many arguments is not supported (use -N n with {1}..{n})")
        add(["--link", "--xapply"], "not supported: link two groups with :::+ or ::::+ (pairs up to the shorter one)")
        add(["--max-args", "-L", "--max-lines", "-l", "-s", "--max-chars"], "not supported: use -N n (n arguments per task)")
        add(["-I", "-i", "--replace", "--rpl", "--plus", "-E", "--eof", "--arg-sep", "--arg-file-sep"],
            "not supported: the replacement strings are {} {1} {.} {/} {//} {/.} {#} {%} and the separators :::, ::::")
        add(["--pipe", "--spreadstdin", "--pipepart", "--block", "--block-size", "--recstart", "--recend", "--roundrobin",
             "--round-robin", "--cat", "--fifo", "--regexp", "--remove-rec-sep", "--removerecsep", "--rrs", "--group-by",
             "--shard", "--bin"],
            "not supported: ppdash does not pipe stdin's blocks to tasks (give the items as arguments)")
        add(["-q", "--quote", "--shellquote", "--trim", "--csv", "--match", "--tmux", "--tmuxpane", "--filter",
             "--no-run-if-empty", "-r", "--null-terminated", "--colsep-regexp"],
            "not supported by ppdash run")
        return r
    }()

    /// The refusal line for `word` when it is one of GNU parallel's options ppdash does not take (`--x=v` too).
    static func refusal(_ word: String) -> String? {
        let name = word.hasPrefix("--") ? String(word.prefix { $0 != "=" }) : word.count > 2 && !word.hasPrefix("--") ? String(word.prefix(2)) : word
        guard let why = refused[name] else { return nil }
        return "\(name): \(why)"
    }
}

/// An `InputPlan`'s rows (stdin's lines, files' items, linked groups...) fed to a streamed batch as they are read,
/// with a bounded read-ahead: the reader waits while `readAhead` tasks wait to start.
final class InputFeed: Sendable {
    static let readAhead = 4096

    /// The rows, opened (files, header) before the batch starts; read by the feeding thread alone, under this lock.
    let rows: Mutex<InputRows>
    let template: Template

    /// The input as given, files made absolute (the journal's `options.input`).
    let input: String

    /// Every row, when it was read before the batch (`--shuf`: see `readWhole`). Guarded by this Mutex.
    private let whole = Mutex<[[String]]?>(nil)
    var wholeInput: [[String]]? { whole.withLock { $0 } }
    func keepWhole(_ rows: [[String]]) { whole.withLock { $0 = rows } }

    init(_ plan: InputPlan) throws(SweepError) {
        let r = try InputRows(plan, warn: { note($0) })
        template = r.template
        rows = Mutex(r)
        input = Self.describe(plan)
    }

    /// `:::: /abs/f ::::+ stdin ::: (3 values) -N 2 --colsep ','`: what a resume tells about the input.
    static func describe(_ plan: InputPlan) -> String {
        // stdin's lines (with -0, -N...): resume says what it says of every stdin run.
        guard !plan.groups.isEmpty else { return "stdin" }
        var words = [String]()
        for g in plan.groups {
            switch g.source {
            case .values(let v): words.append((g.linked ? ":::+" : ":::") + " (\(v.count) value\(v.count == 1 ? "" : "s"))")
            case .file(let f): words.append((g.linked ? "::::+ " : ":::: ") + (f == "-" ? "stdin" : absolutePath(f)))
            }
        }
        let o = plan.options
        if o.delimiter != [10] { words.append(o.delimiter == [0] ? "-0" : "-d " + Template.quote(ByteText.decode(o.delimiter))) }
        if let n = o.perTask { words.append("-N \(n)") }
        if let c = o.columnSeparator { words.append("--colsep " + Template.quote(c)) }
        if o.header { words.append("--header :") }
        return words.joined(separator: " ")
    }

    /// Calls `body` with each row's arguments until it returns false or the input ends (`--dry-run`).
    func forEachRow(_ body: ([String]) -> Bool) {
        rows.withLock { rows in
            while let args = rows.next(), body(args) {}
        }
    }

    func feed(_ stream: ShellStream) {
        rows.withLock { rows in
            var pending = [[String]]()
            var stopped = false
            // Before a read that may block, what was read goes to the batch (a line reaches its task before EOF).
            func flush() {
                guard !pending.isEmpty, !stopped else { return }
                // Blocked (woken as the scheduler starts or ends tasks), not polling.
                if !stream.waitForRoom(below: Self.readAhead) {
                    stopped = true
                    return
                }
                if !stream.append(pending) { stopped = true }
                pending.removeAll(keepingCapacity: true)
            }
            rows.beforeRead { flush() }
            while !stopped, let args = rows.next() {
                pending.append(args)
                if pending.count >= 256 { flush() }
            }
            flush()
            rows.beforeRead {}
            stream.close(inputEnded: !stopped)
        }
    }
}
