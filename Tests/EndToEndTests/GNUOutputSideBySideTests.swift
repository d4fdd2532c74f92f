// Issue 14, the output, job-control, hosts and exit-status half: GNU parallel -k and ppdash run --keep-order on the
// same arguments print the same bytes, write the same joblog columns and result files, and exit the same.
import Foundation
import Testing

/// A tree of files under `root`: relative path to bytes (directories end with /).
private func tree(_ root: String) -> [String: [UInt8]] {
    var out = [String: [UInt8]]()
    guard let e = FileManager.default.enumerator(atPath: root) else { return out }
    while let rel = e.nextObject() as? String {
        var isDir: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: root + "/" + rel, isDirectory: &isDir)
        out[rel + (isDir.boolValue ? "/" : "")] = isDir.boolValue ? [] : Array(FileManager.default.contents(atPath: root + "/" + rel) ?? Data())
    }
    return out
}

/// A joblog's lines as columns, the header kept, times (Starttime, JobRuntime) blanked, sorted by Seq.
private func joblogColumns(_ path: String) -> [[String]] {
    let text = String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
    var rows = text.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    for i in rows.indices.dropFirst() where rows[i].count == 9 {
        rows[i][2] = "T"
        rows[i][3] = "R"
    }
    guard let header = rows.first else { return [] }
    return [header] + rows.dropFirst().sorted { (Int($0[0]) ?? 0) < (Int($1[0]) ?? 0) }
}

@Suite("Side by side: GNU output options, job control, exit status", .endToEndSlot)
struct GNUOutputSideBySideTests {
    // MARK: output

    @Test("--tag: each line prefixed with the argument and a tab")
    func tag() async throws {
        let r = try await sideBySide(["--tag", "echo {}; echo second", ":::", "a", "b c", "d"])
        #expect(r.gnu.out == "a\ta\na\tsecond\nb c\tb c\nb c\tsecond\nd\td\nd\tsecond\n", "\(r.gnu)")
        expectSame(r, "--tag")
    }

    @Test("--tag with two groups: the arguments joined by spaces")
    func tagTwoGroups() async throws {
        expectSame(try await sideBySide(["--tag", "echo", "{1}-{2}", ":::", "a", "b", ":::", "x y", "z"]), "--tag, two groups")
    }

    @Test("--tag on output without a final newline: the last piece is tagged too")
    func tagNoFinalNewline() async throws {
        expectSame(try await sideBySide(["--tag", "printf 'x\\ny'", ":::", "1", "2"]), "--tag, no final newline")
    }

    @Test("--tagstring with replacement strings, unquoted")
    func tagstring() async throws {
        let r = try await sideBySide(["--tagstring", "<{}|{#}|{1/}|{.}>", "echo", "{}", ":::", "d/a b.txt", "c.tar.gz"])
        #expect(r.gnu.out.hasPrefix("<d/a b.txt|1|a b.txt|d/a b>\t"), "\(r.gnu)")
        expectSame(r, "--tagstring")
    }

    @Test("--line-buffer --tag: the same lines")
    func lineBufferTag() async throws {
        expectSame(try await sideBySide(["--line-buffer", "--tag", "echo {}; echo z", ":::", "a", "b"]), "--line-buffer --tag")
    }

    @Test("-u (--ungroup) with one job: output as it comes, the same bytes")
    func ungroup() async throws {
        expectSame(try await sideBySide(["-u", "-j1", "printf 'p{}'; echo q{}", ":::", "1", "2", "3"]), "-u -j1")
    }

    @Test("--dry-run prints the commands and runs nothing (arguments that need no quoting: see README on quoting)")
    func dryRun() async throws {
        let r = try await sideBySide(["--dry-run", "echo {} {.} > made-{#}", ":::", "a", "b.txt", "dir/x-1_2+3"])
        #expect(r.gnu.outLines.count == 3, "\(r.gnu)")
        expectSame(r, "--dry-run")
        #expect(!FileManager.default.fileExists(atPath: "made-1"))
        let big = try await sideBySide(["--dry-run", "echo", ":::"] + (1...40).map(String.init), timeout: 60)
        expectSame(big, "--dry-run of 40")
        // --tag and --tagstring are printed before each command, -u or not.
        expectSame(try await sideBySide(["--dry-run", "--tag", "echo", ":::", "a b", "c"]), "--dry-run --tag")
        expectSame(try await sideBySide(["--dry-run", "-u", "--tagstring", "{#}-{}x", "echo", ":::", "a", "b"]), "--dry-run --tagstring")
    }

    @Test("--results DIR: the same tree (DIR/1/ARG/2/ARG/seq|stdout|stderr, escaped names), nothing on stdout")
    func results() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let args = ["--results", "DIR", "echo out-{1}-{2}; echo err-{1} >&2", ":::", "a", "x/y", "b\\c", "", ":::", "1", "2"]
        let r = try await sideBySide(
            Array(args.dropFirst(2)), gnuExtra: ["--results", dir.file("gnu")], ppdashExtra: ["--results", dir.file("pp")])
        expectSame(r, "--results")
        let gnu = tree(dir.file("gnu"))
        #expect(gnu["1/a/2/1/stdout"] == Array("out-a-1\n".utf8), "\(gnu.keys.sorted())")
        #expect(gnu["1/x\\_y/2/2/seq"] != nil, "\(gnu.keys.sorted())")
        #expect(gnu == tree(dir.file("pp")), "GNU: \(gnu.keys.sorted())\nppdash: \(tree(dir.file("pp")).keys.sorted())")
    }

    @Test("--files: one file name a line, in order, each file holding the task's stdout")
    func files() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let r = try await sideBySide(["--files", "echo {}; echo {}{}", ":::", "a", "b", "c"])
        #expect(r.gnu.exitCode == 0 && r.ppdash.exitCode == 0, "\(r.gnu)\n\(r.ppdash)")
        func contents(_ out: RunResult) -> [String] {
            out.outLines.map { p in
                defer { try? FileManager.default.removeItem(atPath: p) }
                return String(decoding: FileManager.default.contents(atPath: p) ?? Data(), as: UTF8.self)
            }
        }
        let want = contents(r.gnu)
        #expect(want == ["a\naa\n", "b\nbb\n", "c\ncc\n"], "\(r.gnu)")
        #expect(contents(r.ppdash) == want, "\(r.ppdash)")
        #expect(r.ppdash.outLines.allSatisfy { $0.hasSuffix(".par") }, "\(r.ppdash)")
    }

    // MARK: job control

    @Test("--joblog: the same columns (times aside): Seq, Host, Send, Receive, Exitval, Signal, Command")
    func joblog() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let r = try await sideBySide(
            ["echo {}; exit {}", ":::", "0", "1", "2", "0"],
            gnuExtra: ["--joblog", dir.file("gnu")], ppdashExtra: ["--joblog", dir.file("pp")])
        expectSame(r, "--joblog")
        let gnu = joblogColumns(dir.file("gnu"))
        #expect(gnu.count == 5 && gnu[0].first == "Seq", "\(gnu)")
        #expect(joblogColumns(dir.file("pp")) == gnu)
    }

    @Test("--joblog records a task killed by a signal: Exitval 0, Signal 9; and the run fails")
    func joblogSignal() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let r = try await sideBySide(
            ["echo {}; if [ {} = k ]; then kill -9 $$; fi", ":::", "a", "k", "b"],
            gnuExtra: ["--joblog", dir.file("gnu")], ppdashExtra: ["--joblog", dir.file("pp")])
        expectSame(r, "killed task")
        #expect(joblogColumns(dir.file("gnu"))[2][6...7] == ["0", "9"], "\(joblogColumns(dir.file("gnu")))")
        #expect(joblogColumns(dir.file("pp")) == joblogColumns(dir.file("gnu")))
    }

    @Test("--resume with --joblog: a second run skips the tasks the joblog has, appends the new ones")
    func resume() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let first = try await sideBySide(
            ["echo {}", ":::", "a", "b"], gnuExtra: ["--joblog", dir.file("gnu")], ppdashExtra: ["--joblog", dir.file("pp")])
        expectSame(first, "first run")
        let second = try await sideBySide(
            ["--resume", "echo {}", ":::", "a", "b", "c", "d"],
            gnuExtra: ["--joblog", dir.file("gnu")], ppdashExtra: ["--joblog", dir.file("pp")])
        #expect(second.gnu.out == "c\nd\n", "\(second.gnu)")
        expectSame(second, "--resume")
        #expect(joblogColumns(dir.file("pp")) == joblogColumns(dir.file("gnu")))
    }

    @Test("--resume-failed: only the failed and the new tasks run again; the status counts this run")
    func resumeFailed() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let extra = (gnu: ["--joblog", dir.file("gnu")], pp: ["--joblog", dir.file("pp")])
        let first = try await sideBySide(["echo {}; exit {}", ":::", "0", "1", "2"], gnuExtra: extra.gnu, ppdashExtra: extra.pp)
        expectSame(first, "first run: 2 failures")
        let second = try await sideBySide(
            ["--resume-failed", "echo {}; exit {}", ":::", "0", "1", "2", "3"], gnuExtra: extra.gnu, ppdashExtra: extra.pp)
        #expect(second.gnu.out == "1\n2\n3\n" && second.gnu.exitCode == 3, "\(second.gnu)")
        expectSame(second, "--resume-failed")
        #expect(joblogColumns(dir.file("pp")) == joblogColumns(dir.file("gnu")))
    }

    @Test("--halt now,fail=1: stops at the first failure, exit status the failing task's")
    func haltNowFail1() async throws {
        let r = try await sideBySide(["-j1", "--halt", "now,fail=1", "echo {}; exit {}", ":::", "0", "3", "4"])
        #expect(r.gnu.exitCode == 3, "\(r.gnu)")
        expectSame(r, "--halt now,fail=1")
    }

    @Test("--halt soon,fail=2: stops after the second failure, exit status 2")
    func haltSoonFail2() async throws {
        let r = try await sideBySide(["-j1", "--halt", "soon,fail=2", "echo {}; exit {}", ":::", "0", "3", "4", "5", "6"])
        #expect(r.gnu.exitCode == 2, "\(r.gnu)")
        expectSame(r, "--halt soon,fail=2")
    }

    @Test("--halt now,success=1: stops at the first success, exit status 0")
    func haltSuccess() async throws {
        expectSame(try await sideBySide(["-j1", "--halt", "now,success=1", "echo {}; exit {}", ":::", "3", "0", "4"]), "success=1")
    }

    @Test("--halt now,fail=50%: stops when half the tasks failed, exit status the percentage")
    func haltPercent() async throws {
        let r = try await sideBySide(["-j1", "--halt", "now,fail=50%", "echo {}; exit {}", ":::", "0", "3", "0", "4", "5", "6"])
        #expect(r.gnu.exitCode == 50, "\(r.gnu)")
        expectSame(r, "fail=50%")
    }

    @Test("--halt 2 (GNU parallel's old number: now,fail=1) and --halt soon,done=2")
    func haltOldForms() async throws {
        expectSame(try await sideBySide(["-j1", "--halt", "2", "echo {}; exit {}", ":::", "0", "5", "0"]), "--halt 2")
        expectSame(try await sideBySide(["-j1", "--halt", "soon,done=2", "echo {}; exit {}", ":::", "0", "5", "0"]), "done=2")
    }

    @Test("--shuf: every task runs once, in some order; {#} numbers them in that order")
    func shuf() async throws {
        let r = try await sideBySide(["--shuf", "echo {#}", ":::", "a", "b", "c", "d", "e"])
        #expect(r.gnu.out == r.ppdash.out, "-k prints by {#}: 1..5 in both\(r.ppdash)")
        let s = try await sideBySide(["--shuf", "echo {}", ":::", "a", "b", "c", "d", "e"])
        #expect(s.gnu.outLines.sorted() == s.ppdash.outLines.sorted() && s.ppdash.exitCode == 0, "\(s.ppdash)")
    }

    @Test("--delay: the same output; the joblog's start times are at least the delay apart")
    func delay() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let r = try await sideBySide(
            ["-j3", "--delay", "0.2", "echo {}", ":::", "a", "b", "c", "d"],
            gnuExtra: ["--joblog", dir.file("gnu")], ppdashExtra: ["--joblog", dir.file("pp")])
        expectSame(r, "--delay")
        let text = String(decoding: FileManager.default.contents(atPath: dir.file("pp")) ?? Data(), as: UTF8.self)
        let times = text.split(separator: "\n").dropFirst().compactMap { Double($0.split(separator: "\t")[2]) }.sorted()
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        #expect(times.count == 4 && gaps.allSatisfy { $0 >= 0.199 }, "start gaps \(gaps)")
    }

    @Test("-j N%, -j +N, -j -N, -j 0 and --jobs: accepted, the same output")
    func jobsForms() async throws {
        for j in ["50%", "+1", "-1", "0", "200%"] {
            expectSame(try await sideBySide(["-j", j, "echo {}", ":::", "a", "b", "c"]), "-j \(j)")
        }
        expectSame(try await sideBySide(["--jobs", "2", "echo {}", ":::", "a", "b"]), "--jobs 2")
    }

    @Test("--nice 10: the tasks run at niceness 10")
    func nice() async throws {
        let r = try await sideBySide(["--nice", "10", "nice; : {}", ":::", "a"])
        #expect(r.gnu.out == "10\n" || r.gnu.out == "19\n", "\(r.gnu)")
        expectSame(r, "--nice 10")
    }

    @Test("--memfree and --load that the host meets: the batch runs as without them")
    func memfreeLoad() async throws {
        expectSame(try await sideBySide(["--memfree", "1k", "--load", "10000", "echo {}", ":::", "a", "b"]), "--memfree --load")
    }

    // MARK: hosts

    @Test("-S : (this host), also with a count: the same output")
    func sshloginLocal() async throws {
        expectSame(try await sideBySide(["-S", ":", "echo {}", ":::", "a", "b"]), "-S :")
        expectSame(try await sideBySide(["-S", "2/:", "echo {}", ":::", "a", "b"]), "-S 2/:")
    }

    // MARK: exit status

    @Test("exit status: the number of failed tasks")
    func exitCount() async throws {
        let r = try await sideBySide(["exit {}", ":::", "0", "1", "2", "3", "0"])
        #expect(r.gnu.exitCode == 3, "\(r.gnu)")
        expectSame(r, "3 failures")
    }

    @Test("exit status: 101 for more than 100 failed tasks")
    func exitOver100() async throws {
        let r = try await sideBySide(["exit 1; : {}", ":::"] + (1...103).map(String.init), timeout: 90)
        #expect(r.gnu.exitCode == 101, "\(r.gnu)")
        expectSame(r, "103 failures")
    }

    @Test("a timed-out task counts as failed; the joblog says Exitval -1, Signal 15")
    func timeoutJoblog() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let r = try await sideBySide(
            ["--timeout", "0.5", "sleep {}", ":::", "5", "0"],
            gnuExtra: ["--joblog", dir.file("gnu")], ppdashExtra: ["--joblog", dir.file("pp")])
        expectSame(r, "--timeout")
        #expect(joblogColumns(dir.file("pp")) == joblogColumns(dir.file("gnu")))
    }
}

@Suite("GNU parallel options ppdash refuses", .endToEndSlot)
struct GNURefusedOptionsTests {
    @Test("each refused option: one line naming it on stderr, exit 2, nothing run")
    func refused() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let mark = dir.file("ran")
        let cases: [[String]] = [
            ["--pipe"], ["--tee"], ["--onall"], ["--nonall"], ["--transferfile", "x"], ["--return", "x"], ["--cleanup"],
            ["--basefile", "x"], ["--bar"], ["--eta"], ["--progress"], ["--ctagstring", "x"], ["--semaphore"],
            ["--sqlmaster", "x"], ["--timeout", "0%"], ["--timeout", "5x"], ["--results", "out.csv"], ["--results", "{}/x"],
            ["--halt", "sometimes"], ["--halt", "now,fail=x"], ["-j", "x"], ["--resume"], ["--memfree", "lots"],
            ["--load", "-1"], ["--nice", "99"], ["--delay", "-1"], ["-S", "ssh -p 22 host"], ["--files", "--results", "d"],
            ["--tag", "--json"], ["--joblog", "/"], ["--resume-failed", "--joblog", "/nonexistent/dir/log"],
            ["--sshloginfile", "/nonexistent/hosts"], ["-j", "5000"], ["-j", "1.5"], ["--tagstring", "{=x=}"],
        ]
        // Eight at a time (each is a process that ends at once): the list costs seconds, not minutes.
        var pending = cases[...]
        while !pending.isEmpty {
            let slice = pending.prefix(8)
            pending = pending.dropFirst(8)
            await withTaskGroup(of: ([String], RunResult).self) { group in
                for c in slice {
                    group.addTask {
                        (c, await PPDash.run(["run", "--no-journal"] + c + ["touch \(mark)", ":::", "1"], stdin: [], timeout: 30))
                    }
                }
                for await (c, r) in group {
                    #expect(r.exitCode == 2 && r.errLines.count == 1 && r.out.isEmpty, "\(c): \(r)")
                }
            }
        }
        #expect(!FileManager.default.fileExists(atPath: mark), "a refused option ran a task")
    }
}

@Suite("-S/--sshlogin onto ssh engines", .endToEndSlot)
struct SSHLoginE2ETests {
    @Test(
        "-S N/host:port twice and --sshloginfile: a host that cannot be reached does not stop the others",
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd"),
            "no /usr/sbin/sshd: install openssh-server to run the ssh engine tests"))
    func sshlogins() async throws {
        let bin = try #require(PPDash.path, "ppdash binary")
        let server = try await PrivateSSHD.start()
        defer { server.stop() }
        let dead = freePort()
        let dir = TempDir()
        defer { dir.remove() }
        try "# hosts\n\n2/127.0.0.1:\(server.port)\n".write(toFile: dir.file("hosts"), atomically: true, encoding: .utf8)
        let r = await PPDash.run(
            [
                "run", "--no-journal", "--keep-order", "-S", "1/127.0.0.1:\(dead)", "--sshloginfile", dir.file("hosts"),
                "--ssh", "ssh -F \(server.clientConfig)", "--remote-ppdash", bin, "--", "echo {}", ":::", "a", "b", "c", "d",
            ], timeout: 60)
        #expect(r.exitCode == 0 && r.outLines == ["a", "b", "c", "d"], "\(r)\n--- sshd log ---\n\(server.log)")
        #expect(r.err.contains("127.0.0.1:\(dead)") && (r.err.contains("dead") || r.err.contains("died")), "the dead host is named\(r)")
    }
}

@Suite("GNU parallel's --halt in the ppdash journal", .endToEndSlot)
struct GNUHaltJournalE2ETests {
    @Test("resume reuses a GNU --halt form the journal recorded, and exits with GNU parallel's status")
    func resumeReusesHalt() async {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("j.jsonl")
        let first = await PPDash.run(
            ["run", "--journal", journal, "-j1", "--halt", "soon,fail=5", "--", "exit {}", ":::", "3", "0", "4"],
            stdin: [], directory: dir.path, timeout: 30)
        #expect(first.exitCode == 2, "2 failures, the halt never fired: \(first)")
        let again = await PPDash.run(["resume", journal], stdin: [], directory: dir.path, timeout: 30)
        #expect(again.err.contains("--halt soon,fail=5"), "\(again)")
        #expect(again.exitCode == 2, "the two failing tasks fail again: \(again)")
    }
}
