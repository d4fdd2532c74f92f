// GNU parallel's input forms, side by side (issue 14): `parallel -k ARGS` and `ppdash run --keep-order ARGS` print
// the same stdout, byte for byte, and exit the same; and what ppdash does not take is refused in one line, exit 2.
import Foundation
import Glibc
import Testing

/// One side-by-side case: the arguments both tools get, their stdin, the files in their directory.
struct InputCase: Sendable, CustomTestStringConvertible {
    var name: String
    var args: [String]
    var stdin: [UInt8]? = nil
    var files: [String: [UInt8]] = [:]

    var testDescription: String { name }

    static let lines: [String: [UInt8]] = [
        "f": Array("f1\nf2\nf3\n".utf8), "g": Array("g1\ng2\n".utf8), "c": Array("a,b,c\nd,e\nf,,g,h\n".utf8),
        "h": Array("name,age\nbob/x.y,3\nann,4\n".utf8), "z": Array("a\0b\nc\0".utf8), "empty": [],
        "crlf": Array("a\r\nb\n".utf8), "latin1": [0x63, 0x61, 0x66, 0xE9, 0x2E, 0x74, 0x78, 0x74, 0x0A, 0x6F, 0x6B, 0x0A],
        "nums": Array("1\n2\n3\n".utf8), "nolast": Array("x\ny".utf8), "blank": Array("\n\nb\n".utf8),
        "ht": Array("id\tpath\n1\t/d/a.tar.gz\n2\tb.c\n".utf8),
    ]

    static let all: [InputCase] = [
        // Linked groups: shortest wins, linked to the group just before.
        InputCase(name: ":::+ shorter second", args: ["echo", "{1}", "{2}", ":::", "a", "b", "c", ":::+", "1", "2"]),
        InputCase(name: ":::+ shorter first", args: ["echo", "{1}", "{2}", ":::", "a", "b", ":::+", "1", "2", "3"]),
        InputCase(name: ":::+ links to the previous group only", args: ["echo", "{1}", "{2}", "{3}", ":::", "a", "b", ":::", "x", "y", ":::+", "1", "2"]),
        InputCase(name: ":::+ then a product", args: ["echo", ":::", "a", "b", ":::+", "1", "2", ":::", "X", "Y"]),
        InputCase(name: ":::+ as the first group is :::", args: ["echo", ":::+", "a", "b"]),
        // Files.
        InputCase(name: ":::: f ::::+ g", args: ["echo", "{1}", "{2}", "::::", "f", "::::+", "g"], files: lines),
        InputCase(name: ":::: f :::: g (product)", args: ["echo", "{1}", "{2}", "::::", "f", "::::", "g"], files: lines),
        InputCase(name: ":::: f g (two files after one ::::)", args: ["echo", "::::", "f", "g"], files: lines),
        InputCase(name: "-a f -a g", args: ["-a", "f", "-a", "g", "echo"], files: lines),
        InputCase(name: "-a f then ::: z", args: ["-a", "f", "echo", ":::", "z"], files: lines),
        InputCase(name: "--arg-file with {#}", args: ["--arg-file", "f", "echo", "{#}", "{}.x"], files: lines),
        InputCase(name: "::: z :::: f", args: ["echo", ":::", "z", "::::", "f"], files: lines),
        InputCase(name: ":::: empty file: no task, exit 0", args: ["echo", "x", "::::", "empty"], files: lines),
        // An empty source beside others gives one empty value (GNU's nest_get); every source empty: no task.
        InputCase(name: "-a empty then ::: x", args: ["-a", "empty", "echo", "[{1}]", "[{2}]", ":::", "x"], files: lines),
        InputCase(name: "::: a b :::: empty ::: c d", args: ["echo", ":::", "a", "b", "::::", "empty", ":::", "c", "d"], files: lines),
        InputCase(name: "::: a b ::::+ empty", args: ["echo", "{1}", "[{2}]", ":::", "a", "b", "::::+", "empty"], files: lines),
        InputCase(name: ":::: empty :::: empty: no task", args: ["echo", "x", "::::", "empty", "::::", "empty"], files: lines),
        InputCase(name: "-a empty -a f", args: ["-a", "empty", "-a", "f", "echo", "[{1}]", "{2}"], files: lines),
        InputCase(name: ":::: file with CRLF lines (\\r kept)", args: ["echo", "X{}X", "::::", "crlf"], files: lines),
        InputCase(name: ":::: file with non-UTF-8 bytes", args: ["echo", "{}", "{.}", "::::", "latin1"], files: lines),
        InputCase(name: ":::: file without a last newline", args: ["echo", "[{}]", "::::", "nolast"], files: lines),
        InputCase(name: ":::: file with empty lines", args: ["echo", "X{}X", "::::", "blank"], files: lines),
        InputCase(name: "failing tasks from a file: same exit status", args: ["echo {}; test {} != 2", "::::", "nums"], files: lines),
        InputCase(name: ":::: - and ::: q", args: ["echo", "{1}", "{2}", "::::", "-", ":::", "q"], stdin: Array("s1\ns2\n".utf8)),
        InputCase(name: "-a -", args: ["-a", "-", "echo"], stdin: Array("s1\ns2\n".utf8)),
        InputCase(name: "::::+ - linked to a file", args: ["echo", "::::", "f", "::::+", "-"], stdin: Array("s1\ns2\ns3\ns4\n".utf8), files: lines),
        // -N.
        InputCase(name: "-N 2 with {1}-{2}-{3}", args: ["-N", "2", "echo", "{1}-{2}-{3}", ":::", "a", "b", "c", "d", "e"]),
        InputCase(name: "-N 2 with {}", args: ["-N", "2", "echo", "{}", ":::", "a", "b", "c", "d", "e"]),
        InputCase(name: "-N 2, no replacement string", args: ["-N", "2", "echo", ":::", "a", "b", "c", "d", "e"]),
        InputCase(name: "-N 2 over two groups", args: ["-N", "2", "echo", "{1}", "{2}", ":::", "a", "b", "c", ":::", "x", "y"]),
        InputCase(name: "-N 0", args: ["-N", "0", "echo", "x", ":::", "a", "b"]),
        InputCase(name: "-N 3 on stdin", args: ["-N", "3", "echo", "{3}", "{1}"], stdin: Array("1\n2\n3\n4\n5\n6\n7\n".utf8)),
        // --colsep.
        InputCase(name: "--colsep , {1}+{2}+{3}", args: ["--colsep", ",", "echo", "{1}+{2}+{3}", "::::", "c"], files: lines),
        InputCase(name: "--colsep , {}", args: ["--colsep", ",", "echo", "{}", "::::", "c"], files: lines),
        InputCase(name: "--colsep regex ,+", args: ["--colsep", ",+", "echo", "{2}", "::::", "c"], files: lines),
        InputCase(name: "--colsep over ::: and ::::", args: ["--colsep", ",", "echo", "{1}", "{2}", ":::", "x,y", "::::", "c"], files: lines),
        InputCase(name: "--colsep with -N 2", args: ["--colsep", ",", "-N", "2", "echo", "{1}", "{2}", "{3}", "{4}", "::::", "c"], files: lines),
        InputCase(name: "--colsep '\\t' with modifiers", args: ["--colsep", "\t", "echo", "{1}", "{2/}", "{2.}", "{2//}", "::::", "ht"], files: lines),
        InputCase(name: "-C , on stdin", args: ["-C", ",", "echo", "{2}"], stdin: Array("a,b\nc,d\n".utf8)),
        // --header :.
        InputCase(name: "--header : --colsep , {name} {age}", args: ["--header", ":", "--colsep", ",", "echo", "{name}", "is", "{age}", "::::", "h"], files: lines),
        InputCase(name: "--header : over ::: groups", args: ["--header", ":", "echo", "{a}", "{b}", ":::", "a", "1", "2", ":::", "b", "x", "y"]),
        InputCase(name: "--header : names with modifiers", args: ["--header", ":", "--colsep", ",", "echo", "{1}", "{name.}", "{name/}", "{name//}", "::::", "h"], files: lines),
        InputCase(name: "--header : unknown name stays", args: ["--header", ":", "echo", "{foo}", ":::", "a", "1", "2"]),
        InputCase(name: "--header : {} has no header", args: ["--header", ":", "echo", "{}", ":::", "a", "1", "2"]),
        // Delimiters.
        InputCase(name: "-d : keeps the last newline", args: ["-d", ":", "echo", "X{}X"], stdin: Array("a:b:c\n".utf8)),
        InputCase(name: "-d : no trailing delimiter", args: ["-d", ":", "echo", "X{}X"], stdin: Array("a:b:c".utf8)),
        InputCase(name: "-d '\\t' escape", args: ["-d", "\\t", "echo", "X{}X"], stdin: Array("a\tb".utf8)),
        InputCase(name: "-d :: two bytes", args: ["-d", "::", "echo", "X{}X"], stdin: Array("a::b::c".utf8)),
        InputCase(name: "-0 on stdin", args: ["-0", "echo", "X{}X"], stdin: Array("a\0b\nc\0".utf8)),
        InputCase(name: "-0 -a z", args: ["-0", "-a", "z", "echo", "X{}X"], files: lines),
        InputCase(name: "--null :::: z", args: ["--null", "echo", "X{}X", "::::", "z"], files: lines),
        // A ::: value holding the delimiter: GNU parallel writes the values to a file and reads its items back.
        InputCase(name: "::: value with a newline: one argument per line", args: ["echo", "{#}", "[{}]", ":::", "a\nb", "c"]),
        InputCase(name: "::: value with an empty line and a last newline", args: ["echo", "{#}", "[{}]", ":::", "a\n\nb\n", "\n", "c"]),
        InputCase(name: "::: newline value linked and in a product", args: ["echo", "{1}={2}", "{3}", ":::", "a\nb", ":::+", "1", "2", ":::", "x\ny"]),
        InputCase(name: "::: newline value with --colsep and --header", args: ["--header", ":", "--colsep", ",", "echo", "{k}-{v}", ":::", "k,v\na,1\nb,2"]),
        InputCase(name: "::: value split by -d , (not by its newline)", args: ["-d", ",", "echo", "[{}]", ":::", "a,b", "c\nd"]),
        InputCase(name: "::: newline value under -0 stays whole", args: ["-0", "echo", "[{}]", ":::", "a\nb", "c"]),
        // Positional replacement strings with modifiers.
        InputCase(name: "{2.} {1/} {3//} {2/.}", args: ["echo", "{2.}", "{1/}", "{3//}", "{2/.}", ":::", "/a/b.c", ":::", "x/y.tar.gz", ":::", "/p/q/r"]),
        InputCase(name: "{1/.} {1//} {#} on odd paths", args: ["echo", "{1/.}", "{1//}", "{#}", ":::", "a/b.c/d", "/", "x.", ".y", "a//b//"]),
        InputCase(name: "arguments with spaces and quotes", args: ["echo", "{1}", "{2}", ":::", "a b", "it's", ":::+", "$HOME", "`x`"]),
    ]
}

@Suite("Side by side: GNU parallel's input forms", .endToEndSlot)
struct GNUInputSideBySideTests {
    @Test("same stdout, byte for byte, and exit status", arguments: InputCase.all)
    func same(_ c: InputCase) async throws {
        let r = try await sideBySide(c.args, stdin: c.stdin, files: c.files)
        expectSame(r, Comment(rawValue: c.name))
    }

    @Test("a :::: FIFO is streamed: its first line's task runs before the writer has written the second")
    func streamedFIFO() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let fifo = dir.file("in")
        #expect(mkfifo(fifo, 0o600) == 0)
        // O_RDWR does not wait for a reader; ppdash's open does not wait either (a writer is there).
        let w = open(fifo, O_RDWR | O_CLOEXEC)
        #expect(w >= 0)
        let child = try #require(PPDash.start(
            ["run", "--keep-order", "--no-journal", "-j", "2", "touch", "done.{}", "::::", "in", ":::", "x"],
            directory: dir.path, timeout: 30))
        _ = "1\n".withCString { write(w, $0, 2) }
        // Only a streamed read starts task 1 now: a reader that read the file whole would wait for its end.
        var started = false
        for _ in 0..<400 where !started {
            started = dir.exists("done.1")
            if !started { try await Task.sleep(nanoseconds: 50_000_000) }
        }
        _ = "2\n".withCString { write(w, $0, 2) }
        close(w)
        let r = await child.wait()
        #expect(started, "task 1 did not start before the input ended: \(r)")
        #expect(r.exitCode == 0 && dir.exists("done.2"), "\(r)")
    }

    @Test("Ctrl-C while ppdash waits for a FIFO's writer (--header's first line) ends it: nothing ran")
    func interruptWhileOpening() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        #expect(mkfifo(dir.file("in"), 0o600) == 0)
        let child = try #require(PPDash.start(
            ["run", "--no-journal", "--header", ":", "touch", "ran.{a}", "::::", "in"], directory: dir.path, timeout: 30))
        // Wait until it is blocked opening the FIFO (else 10 s, then interrupt anyway: nothing may have run either way).
        var waiting = false
        for _ in 0..<200 where !waiting {
            // The main thread in openat(2) (257 on x86-64), or a wait channel naming the FIFO where one is shown.
            let call = (try? String(contentsOfFile: "/proc/\(child.pid)/syscall", encoding: .utf8)) ?? ""
            let wchan = (try? String(contentsOfFile: "/proc/\(child.pid)/wchan", encoding: .utf8)) ?? ""
            waiting = call.hasPrefix("257 ") || wchan.contains("fifo") || wchan.contains("partner")
            if !waiting { try await Task.sleep(nanoseconds: 50_000_000) }
        }
        child.signal(SIGINT)
        let r = await child.wait()
        #expect(r.signal == SIGINT || r.exitCode == 128 + SIGINT, "\(r)")
        #expect(!dir.contents.contains { $0.hasPrefix("ran.") }, "\(r)")
    }

    @Test("a long file in big -N chunks: every line once, in order")
    func longFile() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        var text = [UInt8]()
        for i in 1...100_000 { text += Array("\(i)\n".utf8) }
        try Data(text).write(to: URL(fileURLWithPath: dir.file("big")))
        let r = await PPDash.run(
            ["run", "--keep-order", "--no-journal", "-j", "2", "-N", "10000", "sh", "-c", "'echo $# $1'", "x", "::::", "big"],
            directory: dir.path, timeout: 60)
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.outLines == (0..<10).map { "10000 \($0 * 10000 + 1)" }, "\(r)")
    }
}

/// What ppdash refuses: one line on stderr naming it, exit 2, nothing run.
@Suite("GNU parallel's input: refusals", .endToEndSlot)
struct GNUInputRefusalTests {
    static let refusals: [(args: [String], says: String)] = [
        (["echo '{= s/a/b/ =}'", ":::", "aaa"], "{= s/a/b/ =}: perl expressions"),
        (["-X", "echo", ":::", "a"], "-X:"),
        (["-m", "echo", ":::", "a"], "-m:"),
        (["--xargs", "echo", ":::", "a"], "--xargs:"),
        (["--link", "echo", ":::", "a", ":::", "b"], "--link: not supported: link two groups with :::+"),
        (["--pipe", "wc"], "--pipe:"),
        (["-I", "XX", "echo", "XX", ":::", "a"], "-I:"),
        (["--quote", "echo", ":::", "a"], "--quote:"),
        (["--frobnicate", "echo", ":::", "a"], "Unknown option '--frobnicate'"),
        (["--header", "x", "echo", ":::", "a"], "--header x: only --header : is supported"),
        (["-N", "-1", "echo", ":::", "a"], "-N must be"),
        (["--colsep", "[", "echo", ":::", "a"], "--colsep [: not a regular expression"),
        (["echo", "::::", "no-such-file"], "cannot open input file no-such-file"),
        (["-a", "no-such-file", "echo"], "cannot open input file no-such-file"),
        (["echo", "::::", "-", "::::", "-"], "stdin (-) given as input 2 times"),
        (["-0", "-d", "x", "echo"], "give -0 or -d DELIM, not both"),
        (["echo", "::::"], ":::: needs a file name"),
        (["echo", ":::", "a", ":::+"], ":::+ needs at least one argument"),
        ([":::", "touch ran", "touch ran2"], "no command given: ppdash does not run each argument as a command"),
        (["--dry-run", "-a", "no-such-file"], "no command given"),
    ]

    @Test("refused in one line, exit 2, nothing run", arguments: 0..<refusals.count)
    func refused(_ k: Int) async {
        let (args, says) = Self.refusals[k]
        let dir = TempDir()
        defer { dir.remove() }
        // Every task would create a file: none may appear.
        let r = await PPDash.run(
            ["run", "--no-journal"] + args.map { $0 == "echo" ? "touch ran; echo" : $0 }, stdin: [], directory: dir.path,
            timeout: 20)
        #expect(r.exitCode == 2, "\(args): \(r)")
        #expect(r.errLines.count == 1 && r.err.contains(says), "\(args): \(r)")
        #expect(r.stdout.isEmpty && !dir.exists("ran"), "\(args): \(r)")
    }
}

/// The file's text, or "" when it is not there.
private func fileText(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

@Suite("GNU parallel's input: journal and resume", .endToEndSlot)
struct GNUInputResumeTests {
    @Test("a :::: FILE ::::+ FILE --colsep run resumes its failed tasks with the recorded arguments, the file changed since")
    func resumeFiles() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        try Data("1,p\n2,q\n3,r\n".utf8).write(to: URL(fileURLWithPath: dir.file("a")))
        try Data("x\ny\n".utf8).write(to: URL(fileURLWithPath: dir.file("b")))
        #expect(FileManager.default.createFile(atPath: dir.file("ok.2"), contents: nil))
        let journal = dir.file("j.jsonl")
        let template = "echo {1}{2}{3} >> out; test -e ok.{1}"
        let first = await PPDash.run(
            ["run", "-j", "2", "--journal", journal, "--colsep", ",", "--", template, "::::", "a", "::::+", "b"],
            directory: dir.path, timeout: 40)
        // Two rows (b is the shorter): 1,p,x fails, 2,q,y is ok.
        #expect(first.exitCode == 1, "\(first)")
        #expect(Set(fileText(dir.file("out")).split(separator: "\n")) == ["1px", "2qy"], "\(first)")
        let header = fileText(journal).split(separator: "\n").first.map(String.init) ?? ""
        // Files made absolute (the directory as the system names it: the test's path may hold a `//`).
        let input = #/"input":":::: /[^"]*/a ::::\+ /[^"]*/b --colsep ','"/#
        #expect(header.contains(input), "\(header)")
        // The file changes; the task runs again with what was read.
        try Data("9,z\n".utf8).write(to: URL(fileURLWithPath: dir.file("a")))
        #expect(FileManager.default.createFile(atPath: dir.file("ok.1"), contents: nil))
        let r = await PPDash.run(["resume", journal, "-j", "2"], directory: dir.path, timeout: 40)
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.err.contains("1 task to run, 1 already ok"), "\(r)")
        let lines: [String] = fileText(dir.file("out")).split(separator: "\n").map(String.init)
        let again: Int = lines.filter { $0 == "1px" }.count
        #expect(again == 2, "\(r)")
        #expect(!fileText(dir.file("out")).contains("9z"), "\(r)")
    }

    @Test("--header names and -N: the journal's template has positions, so resume rebuilds the same command")
    func resumeHeader() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        try Data("n\n1\n2\n3\n".utf8).write(to: URL(fileURLWithPath: dir.file("h")))
        let journal = dir.file("j.jsonl")
        let first = await PPDash.run(
            ["run", "-j", "1", "--journal", journal, "--header", ":", "-N", "2", "--", "echo {n} {2} >> out; test -e ok", "::::", "h"],
            directory: dir.path, timeout: 40)
        #expect(first.exitCode == 2, "\(first)")  // GNU parallel's status: both tasks failed
        #expect(fileText(dir.file("out")) == "1 2\n3\n", "\(first)")
        #expect(FileManager.default.createFile(atPath: dir.file("ok"), contents: nil))
        let r = await PPDash.run(["resume", journal], directory: dir.path, timeout: 40)
        #expect(r.exitCode == 0 && r.err.contains("2 tasks to run"), "\(r)")
        #expect(fileText(dir.file("out")) == "1 2\n3\n1 2\n3\n", "\(r)")
    }
}
