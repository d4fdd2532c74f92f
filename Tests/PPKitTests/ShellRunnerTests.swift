import Foundation
import Glibc
@testable import PPKit
import PPSystem
import Synchronization
import Testing

/// Live (non-zombie) processes whose process group is `pgid` (this container's init never reaps orphans, so zombies linger).
private func liveMembers(ofGroup pgid: Int32) -> [Int32] { SystemFacts.groupMembers(pgid, includingZombies: false) }

/// Waits up to `seconds` for the group to be gone (ESRCH) or to hold only zombies.
private func groupIsGone(_ pgid: Int32, within seconds: Double = 5) -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if kill(-pgid, 0) != 0 && errno == ESRCH { return true }
        if liveMembers(ofGroup: pgid).isEmpty { return true }
        usleep(20_000)
    }
    return false
}

private func elapsed(_ body: () -> ShellOutcome) -> (ShellOutcome, Double) {
    let t0 = Date()
    let o = body()
    return (o, Date().timeIntervalSince(t0))
}

private func makeTempDir() -> String {
    var template = Array("/tmp/ppkit-shell-XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    return String(cString: p!)
}

@Suite struct ShellRunnerTests {
    @Test func exitCodes() {
        let ok = ShellRunner.run("true")
        #expect(ok.exitStatus == 0 && ok.signal == nil && ok.succeeded)
        #expect(ok.pid > 0 && ok.completed >= ok.started)
        let f = ShellRunner.run("false")
        #expect(f.exitStatus == 1 && !f.succeeded)
        let three = ShellRunner.run("exit 3")
        #expect(three.exitStatus == 3 && three.signal == nil)
    }

    @Test func killedBySignal() {
        let o = ShellRunner.run("kill -9 $$")
        #expect(o.signal == SIGKILL)
        #expect(o.exitStatus == nil)
        #expect(!o.succeeded && !o.timedOut && !o.cancelled)
    }

    @Test func capturesStdoutAndStderr() {
        let o = ShellRunner.run("echo out; echo err >&2; printf 'no newline'")
        #expect(o.stdout == CapturedOutput(text: "out\nno newline"))
        #expect(o.stderr == CapturedOutput(text: "err\n"))
    }

    @Test func stdinIsDevNull() {
        let (o, t) = elapsed { ShellRunner.run("cat") }
        #expect(o.exitStatus == 0 && o.stdout.text.isEmpty)
        #expect(t < 10)
    }

    @Test func invalidUTF8DecodesLossily() {
        let o = ShellRunner.run("printf 'a\\377b'")
        #expect(o.stdout.text == "a\u{FFFD}b")
    }

    @Test func outputIsBoundedHeadAndTail() {
        let n = 1_500_000
        var total = 0
        var width = 1
        var p = 1
        while p <= n {
            total += (min(n, p * 10 - 1) - p + 1) * (width + 1)
            p *= 10
            width += 1
        }
        let o = ShellRunner.run("seq 1 \(n); echo tiny >&2", limits: ShellLimits(maxOutput: 1000))
        #expect(o.exitStatus == 0)
        #expect(o.stdout.text.utf8.count == 1000)
        #expect(o.stdout.droppedBytes == total - 1000)
        #expect(o.stdout.text.hasPrefix("1\n2\n3\n4\n"))
        #expect(o.stdout.text.hasSuffix("1499999\n1500000\n"))
        #expect(o.stderr == CapturedOutput(text: "tiny\n"))
    }

    @Test func tenMegabytesKeepOnlyMaxOutput() {
        let o = ShellRunner.run("head -c 10000000 /dev/zero | tr '\\0' x", limits: ShellLimits(maxOutput: 4096))
        #expect(o.stdout.text == String(repeating: "x", count: 4096))
        #expect(o.stdout.droppedBytes == 10_000_000 - 4096)
        let none = ShellRunner.run("head -c 12345 /dev/zero", limits: ShellLimits(maxOutput: 0))
        #expect(none.stdout == CapturedOutput(text: "", droppedBytes: 12345))
    }

    @Test func hugeOutputDoesNotGrowMemory() {
        var before = rusage()
        getrusage(RUSAGE_SELF.rawValue, &before)
        let o = ShellRunner.run("head -c 300000000 /dev/zero", limits: ShellLimits(maxOutput: 65536))
        var after = rusage()
        getrusage(RUSAGE_SELF.rawValue, &after)
        #expect(o.stdout.droppedBytes == 300_000_000 - 65536)
        // ru_maxrss is in KiB; 300 MB of output must not show up as resident memory.
        #expect(after.ru_maxrss - before.ru_maxrss < 100_000)
    }

    @Test func runTimeLimitKillsTheWholeGroup() {
        var spawned: Int32 = 0
        let (o, t) = elapsed {
            ShellRunner.run(
                "sh -c 'sleep 30 & echo $!; sleep 30; wait'", limits: ShellLimits(runTimeLimit: 0.3, grace: 2),
                onSpawn: { spawned = $0 })
        }
        #expect(o.timedOut && !o.cancelled && !o.succeeded)
        #expect(o.signal == SIGTERM)
        #expect(t < 10)
        #expect(spawned == o.pid)
        #expect(groupIsGone(o.pid))
        let grandchild = Int32(o.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(grandchild > 0)
        #expect(!liveMembers(ofGroup: o.pid).contains(grandchild))
    }

    @Test func termIgnoredMeansKillAfterGrace() {
        let (o, t) = elapsed {
            ShellRunner.run("trap '' TERM; sleep 30 & sleep 30", limits: ShellLimits(runTimeLimit: 0.2, grace: 0.3))
        }
        #expect(o.timedOut)
        #expect(o.signal == SIGKILL)
        #expect(t < 10)
        #expect(groupIsGone(o.pid))
    }

    @Test func cancelFromAnotherThread() {
        let cancel = ShellCancel()
        Thread.detachNewThread {
            usleep(200_000)
            cancel.fire()
        }
        let (o, t) = elapsed { ShellRunner.run("sleep 30", cancel: cancel) }
        #expect(o.cancelled && !o.timedOut && !o.succeeded)
        #expect(o.signal == SIGTERM)
        #expect(t < 10)
        #expect(cancel.isFired)
        // A fired token stays fired: the next run does not start.
        let again = ShellRunner.run("true", cancel: cancel)
        #expect(again.cancelled && again.pid == 0 && again.exitStatus == nil)
    }

    @Test func unusedCancelDoesNothing() {
        let o = ShellRunner.run("echo hi", cancel: ShellCancel())
        #expect(o.succeeded && o.stdout.text == "hi\n")
    }

    @Test func commandThatDoesNotExist() {
        let o = ShellRunner.run("no_such_command_ppdash_xyz --flag")
        #expect(o.exitStatus == 127)
        #expect(o.stderr.text.contains("not found"))
        #expect(o.spawnError == nil)
    }

    @Test func spawnErrorForMissingWorkingDirectory() {
        var called = false
        let o = ShellRunner.run("true", workingDirectory: "/nonexistent/ppdash-dir", onSpawn: { _ in called = true })
        #expect(o.spawnError?.hasPrefix("cannot run: ") == true)
        #expect(o.spawnError?.contains("/nonexistent/ppdash-dir") == true)
        #expect(o.pid == 0 && !called && !o.succeeded)
    }

    @Test func workingDirectory() throws {
        #expect(ShellRunner.run("pwd", workingDirectory: "/tmp").stdout.text == "/tmp\n")
        #expect(ShellRunner.run("echo \"$(pwd)\"", workingDirectory: "/usr").stdout.text == "/usr\n")
        let dir = makeTempDir()
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        try "#!/bin/sh\necho in-dir\n".write(toFile: dir + "/run.sh", atomically: true, encoding: .utf8)
        chmod(dir + "/run.sh", 0o755)
        #expect(ShellRunner.run("./run.sh", workingDirectory: dir).stdout.text == "in-dir\n")
    }

    @Test func extraEnvironment() {
        let o = ShellRunner.run("echo \"$PPDASH_TEST_VAR\"", environment: ["PPDASH_TEST_VAR": "hello world"])
        #expect(o.stdout.text == "hello world\n")
        let home = ShellRunner.run("printenv HOME", environment: ["HOME": "/elsewhere"])
        #expect(home.stdout.text == "/elsewhere\n")
        let count = ShellRunner.run("env | grep -c '^HOME='", environment: ["HOME": "/elsewhere", "X_Y": "1"])
        #expect(count.stdout.text == "1\n")
        // The parent's variables are passed on.
        setenv("PPDASH_PARENT_VAR", "from-parent", 1)
        #expect(ShellRunner.run("printenv PPDASH_PARENT_VAR").stdout.text == "from-parent\n")
        #expect(ShellRunner.run("printenv PPDASH_PARENT_VAR", environment: ["Z": "1"]).stdout.text == "from-parent\n")
        // PATH in `extra` is the PATH the command is looked up on.
        #expect(ShellRunner.run("ls /", environment: ["PATH": "/nonexistent"]).exitStatus == 127)
    }

    @Test func closedStdoutStillReaped() {
        let (o, t) = elapsed { ShellRunner.run("exec >&- 2>&-; sleep 0.3; exit 4") }
        #expect(o.exitStatus == 4)
        #expect(t < 10)
    }

    @Test func backgroundChildHoldingThePipeDoesNotBlock() {
        let (o, t) = elapsed { ShellRunner.run("sleep 20 & echo hi") }
        #expect(o.exitStatus == 0 && o.stdout.text == "hi\n")
        #expect(t < 10)
        kill(-o.pid, SIGKILL)
    }

    @Test func onSpawnSeesItsOwnProcessGroup() {
        var pgid: Int32 = -1
        var seen: Int32 = 0
        let o = ShellRunner.run(
            "sleep 0.1",
            onSpawn: {
                seen = $0
                pgid = getpgid($0)
            })
        #expect(seen == o.pid && pgid == o.pid && o.pid != getpgrp())
    }

    @Test func childGetsDefaultSignalsAndEmptyMask() {
        let previous = signal(SIGUSR1, SIG_IGN)
        defer { signal(SIGUSR1, previous) }
        let ignored = ShellRunner.run("kill -USR1 $$; echo survived")
        #expect(ignored.signal == SIGUSR1 && ignored.stdout.text.isEmpty)

        var set = sigset_t()
        var old = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGUSR2)
        pthread_sigmask(SIG_BLOCK, &set, &old)
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        let blocked = ShellRunner.run("kill -USR2 $$; echo survived")
        #expect(blocked.signal == SIGUSR2 && blocked.stdout.text.isEmpty)
    }

    @Test func scriptWithoutShebangRunsThroughTheShell() throws {
        let dir = makeTempDir()
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        let script = dir + "/noshebang"
        try "echo script-ran $1\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        #expect(CommandPlan.plan(script + " x") == .argv(path: script, arguments: [script, "x"]))
        let o = ShellRunner.run(script + " x")
        #expect(o.exitStatus == 0 && o.stdout.text == "script-ran x\n")
    }

    @Test func planChoosesArgvOnlyForPlainCommands() {
        guard case .argv(let sleepPath, let args) = CommandPlan.plan("sleep  1\t2") else {
            Issue.record("sleep should exec directly")
            return
        }
        #expect(sleepPath.hasSuffix("/sleep") && sleepPath.hasPrefix("/"))
        #expect(args == ["sleep", "1", "2"])
        #expect(CommandPlan.plan("/bin/true") == .argv(path: "/bin/true", arguments: ["/bin/true"]))
        #expect(CommandPlan.plan("echo a=b") != .shell("echo a=b"))
        for shell in [
            "echo $HOME", "cd /tmp", "exit 1", "A=1 env", "ls *.c", "echo a\\ b", "true && false", "a | b",
            "echo >f", "nonexistent_ppdash_cmd", "/nonexistent/prog", "", "   ", "echo ~", "exec true", "set -e",
            "read x", "wait", ". ./x", "echo {a,b}", "time sleep 1", "echo a;", "echo `id`", "echo #c",
            "echo \"$x\"", "echo \"`id`\"", "echo \"a\\\\b\"", "echo 'open", "'echo' x", "\"echo\" x", "echo 'a'$x", "echo 'a\\nb'",
            "/etc/passwd",
            // Programs that differ from sh's builtins of the same name: sh's builtin runs.
            "pwd", "printf %s x", "test a == a", "[ -e x ]", "kill -l", "echo -e a", "echo --help", "echo -n x",
            "true --help", "false --version",
        ] {
            #expect(CommandPlan.plan(shell) == .shell(shell), "\(shell)")
        }
        // GNU parallel's quoted arguments are words the shell would make: they run directly too.
        for (command, words) in [
            ("echo 'x'", ["x"]), ("echo \"x\"", ["x"]), ("echo 'a b' c", ["a b", "c"]), ("echo ''", [""]),
            ("echo 'it'\"'\"'s'", ["it's"]), ("echo \"'\"", ["'"]), ("echo 'a;b|c>d $x `id`'", ["a;b|c>d $x `id`"]),
            ("echo 'a\nb' '~' '*'", ["a\nb", "~", "*"]), ("echo '日本'", ["日本"]), ("echo k='v w'", ["k=v w"]),
        ] {
            guard case .argv(let p, let args) = CommandPlan.plan(command) else {
                Issue.record("\(command) should exec directly")
                continue
            }
            #expect(p.hasSuffix("/echo") && args == ["echo"] + words, "\(command)")
        }
        #expect(CommandPlan.plan("sleep 1", path: "/nonexistent:relative") == .shell("sleep 1"))
        #expect(CommandPlan.plan("sleep 1", path: nil) == .shell("sleep 1"))
    }

    @Test func manyTasksInParallelThreads() async {
        await withTaskGroup(of: Int.self) { group in
            for k in 0..<4 {
                group.addTask {
                    var ok = 0
                    for i in 0..<50 where ShellRunner.run("echo \(k)-\(i)").stdout.text == "\(k)-\(i)\n" { ok += 1 }
                    return ok
                }
            }
            var total = 0
            for await n in group { total += n }
            #expect(total == 200)
        }
    }
}

/// Output as bytes, the spool past the bound, and live output while a task runs.
@Suite struct OutputCaptureTests {
    @Test func bytesAreKeptExactly() {
        let o = ShellRunner.run("printf 'a\\377\\000b'")
        #expect(o.stdout.bytes == [97, 255, 0, 98])
        #expect(!o.stdout.isValidUTF8 && o.stdout.text == "a\u{FFFD}\u{0}b")
        #expect(ShellRunner.run("printf 'é'").stdout.isValidUTF8)
    }

    @Test func spoolHoldsTheWholeStreamPastTheBound() throws {
        let dir = makeTempDir()
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/spool/7"
        let o = ShellRunner.run("seq 1 100000; echo small >&2", limits: ShellLimits(maxOutput: 1000, spool: prefix))
        let whole = ShellRunner.run("seq 1 100000", limits: ShellLimits(maxOutput: 1 << 20)).stdout.bytes
        #expect(o.stdout.spool == prefix + ".out")
        let file = FileManager.default.contents(atPath: prefix + ".out").map { [UInt8]($0) }
        let same = file == whole
        #expect(same, "the spool file holds every byte, in order")
        #expect(o.stdout.bytes.count == 1000 && o.stdout.droppedBytes == whole.count - 1000)
        #expect(Array(o.stdout.head) == Array(whole.prefix(500)) && Array(o.stdout.tail) == Array(whole.suffix(500)))
        var st = stat()
        #expect(stat(prefix + ".out", &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(stat(dir + "/spool", &st) == 0 && st.st_mode & 0o777 == 0o700)
        // A stream under the bound stays in memory only.
        #expect(o.stderr.spool == nil && !FileManager.default.fileExists(atPath: prefix + ".err"))
        // A retry of the task writes the stream afresh.
        let again = ShellRunner.run("seq 1 2000", limits: ShellLimits(maxOutput: 100, spool: prefix))
        let second = FileManager.default.contents(atPath: prefix + ".out").map { [UInt8]($0) }
        #expect(again.stdout.spool != nil && second == ShellRunner.run("seq 1 2000").stdout.bytes)
    }

    @Test func chunksOfAnySizeKeepHeadTailAndSpoolInOrder() throws {
        let dir = makeTempDir()
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        var rng = SystemRandomNumberGenerator()
        for round in 0..<20 {
            let limit = Int.random(in: 0...300, using: &rng)
            let path = dir + "/\(round).out"
            var c = OutputCapture(limit: limit, spoolPath: path)
            var all = [UInt8]()
            for _ in 0..<Int.random(in: 1...40, using: &rng) {
                let chunk = (0..<Int.random(in: 0...200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                all += chunk
                chunk.withUnsafeBytes { c.append($0) }
            }
            c.finish()
            let o = c.captured()
            let kept = min(all.count, limit)
            #expect(o.totalBytes == all.count && o.bytes.count == kept, "round \(round)")
            if all.count > limit {
                #expect(Array(o.head) == Array(all.prefix(limit / 2)) && Array(o.tail) == Array(all.suffix(limit - limit / 2)))
                let file = FileManager.default.contents(atPath: path).map { [UInt8]($0) }
                let same = file == all
                #expect(same && o.spool == path, "round \(round): the spool has every byte")
            } else {
                #expect(o.bytes == all && o.spool == nil && !FileManager.default.fileExists(atPath: path))
            }
        }
    }

    @Test func aSpoolThatCannotBeMadeLeavesHeadAndTail() {
        let o = ShellRunner.run(
            "seq 1 10000", limits: ShellLimits(maxOutput: 100, spool: "/proc/no-such-dir/1"))
        #expect(o.stdout.spool == nil && o.stdout.droppedBytes > 0 && o.spoolError != nil)
    }

    @Test func outputCanBeReadWhileTheTaskRuns() {
        let dir = makeTempDir()
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        let flag = dir + "/seen"
        let seen = Mutex<LiveOutput?>(nil)
        let sawFirstLine = Atomic<Bool>(false)
        let watcher = Thread {
            let end = Date().addingTimeInterval(10)
            while Date() < end {
                if let live = seen.withLock({ $0 }), live.snapshot().stdout.text == "first\n" {
                    sawFirstLine.store(true, ordering: .relaxed)
                    _ = FileManager.default.createFile(atPath: flag, contents: nil)
                    return
                }
                usleep(5_000)
            }
        }
        watcher.start()
        // The task waits for the watcher to see its first line (bounded by the run-time limit).
        let o = ShellRunner.run(
            "echo first; while [ ! -e \(flag) ]; do sleep 0.01; done; echo second", limits: ShellLimits(runTimeLimit: 15),
            onOutput: { live in seen.withLock { $0 = live } })
        let sawIt = sawFirstLine.load(ordering: .relaxed)
        #expect(sawIt, "the first line was readable before the task ended")
        #expect(o.stdout.text == "first\nsecond\n")
    }

    @Test func tapSeesEveryChunk() {
        let got = Mutex<[UInt8]>([])
        let o = ShellRunner.run(
            "seq 1 5000", limits: ShellLimits(maxOutput: 10),
            onOutput: { live in live.setTap { stream, b in if stream == 0 { got.withLock { $0 += b } } } })
        let all = got.withLock { $0 } == ShellRunner.run("seq 1 5000").stdout.bytes
        #expect(all, "the tap saw every byte, in order")
        #expect(o.stdout.droppedBytes > 0)
    }
}
