import Foundation
import Glibc
import PPKit
import PPSystem
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
            "echo $HOME", "cd /tmp", "exit 1", "A=1 env", "ls *.c", "echo a\\ b", "echo 'x'", "true && false", "a | b",
            "echo >f", "nonexistent_ppdash_cmd", "/nonexistent/prog", "", "   ", "echo ~", "exec true", "set -e",
            "read x", "wait", ". ./x", "echo {a,b}", "time sleep 1", "echo a;", "echo `id`", "echo \"x\"", "echo #c",
            "/etc/passwd",
        ] {
            #expect(CommandPlan.plan(shell) == .shell(shell), "\(shell)")
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
