import Glibc
import PPSystem
import Testing

/// Waits up to `seconds` for `condition`, polling.
private func eventually(_ seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let end = SystemTime.monotonicSeconds() + seconds
    while SystemTime.monotonicSeconds() < end {
        if condition() { return true }
        Timings.sleep(0.005)
    }
    return condition()
}

/// Whether `fd` is an open descriptor.
private func isOpen(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) != -1 }

/// A child running `sh -c script`, its stdout on a pipe.
private final class Shell {
    let child: ChildProcess
    let out: OwnedDescriptor
    init(_ script: String, grouping: SpawnPlan.Grouping = .newGroup) throws {
        let pipe = try OwnedDescriptor.pipe()
        child = try SpawnPlan(
            executable: "/bin/sh", arguments: ["sh", "-c", script], descriptors: [.copy(pipe.write.raw, to: 1)],
            grouping: grouping
        ).spawn()
        out = pipe.read
    }
}

/// Everything `fd` gives until end of file.
private func readAll(_ fd: borrowing OwnedDescriptor) -> String {
    var bytes: [UInt8] = []
    let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
    defer { buf.deallocate() }
    while let n = try? fd.fd.read(into: buf), n > 0 { bytes += buf[0..<n] }
    return String(decoding: bytes, as: UTF8.self)
}

@Suite("Owned descriptors")
struct DescriptorTests {
    @Test("pipes, eventfds, opens and duplicates are close-on-exec and numbered above stdio")
    func closeOnExec() throws {
        let p = try OwnedDescriptor.pipe()
        let (pr, pw) = (p.read.isCloseOnExec, p.write.isCloseOnExec)
        #expect(pr && pw)
        let (r, w) = (p.read.raw, p.write.raw)
        #expect(r > 2 && w > 2)
        let e = try OwnedDescriptor.eventFD().isCloseOnExec
        #expect(e)
        let n = try OwnedDescriptor.open("/dev/null", .readOnly).isCloseOnExec
        #expect(n)
        let d = try OwnedDescriptor.duplicate(0)
        let (dc, dr) = (d.isCloseOnExec, d.raw)
        #expect(dc && dr >= 3)
    }

    @Test("closed exactly once: when its owner ends, or at release never")
    func closedOnce() throws {
        var raw: Int32 = -1
        do {
            let p = try OwnedDescriptor.pipe()
            raw = p.read.raw
            #expect(isOpen(raw))
        }
        #expect(!isOpen(raw))
        let q = try OwnedDescriptor.pipe()
        let kept = q.read.release()
        #expect(isOpen(kept))
        close(kept)
    }

    @Test("an open that fails throws its errno")
    func typedError() {
        #expect(throws: Errno.noSuchFileOrDirectory) { _ = try OwnedDescriptor.open("/no/such/file", .readOnly).raw }
    }
}

@Suite("The spawner and child processes")
struct SpawnTests {
    @Test("a missing program is a typed error, not a crash")
    func badPath() {
        #expect(throws: Errno.noSuchFileOrDirectory) {
            try SpawnPlan(executable: "/no/such/program", arguments: ["x"]).spawn()
        }
        var plan = SpawnPlan(executable: "no-such-program-ppdash", arguments: ["x"])
        plan.searchPath = true
        #expect(throws: Errno.noSuchFileOrDirectory) { try plan.spawn() }
    }

    @Test("the child leads its own process group, or session")
    func processGroup() throws {
        let memberShell = try Shell("exec sleep 5")
        let member = memberShell.child
        defer { member.send(signal: SIGKILL); member.wait() }
        let m = try #require(SystemFacts.stat(of: member.pid))
        #expect(m.processGroup == member.pid && m.session == getsid(0))
        #expect(member.leadsGroup)

        let leaderShell = try Shell("exec sleep 5", grouping: .newSession)

        let leader = leaderShell.child
        defer { leader.send(signal: SIGKILL); leader.wait() }
        let l = try #require(SystemFacts.stat(of: leader.pid))
        #expect(l.processGroup == leader.pid && l.session == leader.pid)
    }

    @Test("the descriptor plan: the child gets what it lists, and none of ours beyond it")
    func descriptorPlan() throws {
        let extra = try OwnedDescriptor.pipe()
        // An inheritable descriptor of ours (not close-on-exec): the child must still not get it.
        let leaky = fcntl(extra.read.raw, F_DUPFD, 100)
        defer { close(leaky) }
        let out = try OwnedDescriptor.pipe()
        var plan = SpawnPlan(
            executable: "/bin/sh", arguments: ["sh", "-c", "echo hi >&5; ls /proc/self/fd"],
            descriptors: [.copy(out.write.raw, to: 1), .copy(extra.write.raw, to: 5), .open("/dev/null", flags: O_RDONLY, to: 0)])
        plan.environment = ["PPSYS_TEST": "1"]
        let child = try plan.spawn()
        out.write.close()
        extra.write.close()
        let fds = Set(readAll(out.read).split(separator: "\n").compactMap { Int32($0) })
        #expect(child.wait() == .exited(0))
        #expect(readAll(extra.read) == "hi\n")
        #expect(fds.isSuperset(of: [0, 1, 5]))
        #expect(!fds.contains(leaky))
        #expect(fds.allSatisfy { $0 <= 5 })  // 2 may be absent; ls's own directory descriptor is the only other
    }

    @Test("exit status and a signal's end are told apart")
    func exitStatus() throws {
        let aShell = try Shell("exit 7")
        let a = aShell.child
        #expect(a.wait() == .exited(7))
        let bShell = try Shell("kill -9 $$")
        let b = bShell.child
        #expect(b.wait() == .signalled(SIGKILL))
    }

    @Test("signals reach the child by its pidfd, and none is sent once it is reaped")
    func signalsByPidfd() throws {
        let childShell = try Shell("exec sleep 30")
        let child = childShell.child
        #expect(!child.hasExited)
        #expect(child.send(signal: SIGTERM))
        #expect(child.wait() == .signalled(SIGTERM))
        #expect(child.hasExited)
        #expect(!child.send(signal: SIGKILL))
        #expect(!child.sendToGroup(signal: SIGKILL))
        #expect(child.wait() == .signalled(SIGTERM))
    }

    @Test("watch: output read, a deadline stops the whole group with grace, the group is gone before reaping")
    func watchDeadline() throws {
        let childShell = try Shell("echo start; sleep 30 & sleep 30; echo never")
        let child = childShell.child
        var text = ""
        let start = SystemTime.monotonicNanoseconds()
        let stop = child.watch(
            pipes: [childShell.out.raw], deadline: start + 200_000_000, grace: 1_000_000_000,
            now: SystemTime.monotonicNanoseconds
        ) { _, bytes in text += String(decoding: bytes, as: UTF8.self) }
        #expect(stop == .deadline)
        #expect(text == "start\n")
        #expect(child.wait() == .signalled(SIGTERM) || child.wait() == .signalled(SIGKILL))
        #expect(eventually { SystemFacts.processGroupGone(child.pid) })
    }

    @Test("watch: a wake descriptor asks for a stop")
    func watchWake() throws {
        let childShell = try Shell("exec sleep 30")
        let child = childShell.child
        let wake = try OwnedDescriptor.eventFD()
        var one: UInt64 = 1
        _ = write(wake.raw, &one, 8)
        let stop = child.watch(
            pipes: [childShell.out.raw], wake: wake.raw, grace: 1_000_000_000, canBeStopped: true,
            now: SystemTime.monotonicNanoseconds
        ) { _, _ in }
        #expect(stop == .requested)
        #expect(child.wait() == .signalled(SIGTERM))
    }
}

@Suite("The signal catcher", .serialized)
struct SignalTests {
    @Test("a signal raised to this process reaches the catcher, in order, and does not end the process")
    func caught() throws {
        let catcher = try SignalCatcher(catching: [SIGUSR1, SIGUSR2])
        kill(getpid(), SIGUSR2)
        kill(getpid(), SIGUSR1)
        let first = catcher.wait(milliseconds: 5000)
        #expect(first?.number == SIGUSR2)
        #expect(first?.fromTerminal == false)
        #expect(catcher.wait(milliseconds: 5000)?.number == SIGUSR1)
        #expect(catcher.next() == nil)
    }

    @Test("restore puts the previous action back (here: ignored)")
    func restore() throws {
        let catcher = try SignalCatcher(catching: [SIGUSR1])
        catcher.restore(ignoring: [SIGUSR1])
        kill(getpid(), SIGUSR1)  // ignored now: nothing caught, and the process lives
        #expect(catcher.wait(milliseconds: 100) == nil)
        var old = sigaction()
        sigaction(SIGUSR1, nil, &old)
        #expect(unsafeBitCast(old.__sigaction_handler.sa_handler, to: Int.self) == 1)  // SIG_IGN
    }
}

@Suite("/proc probes and the clock")
struct ProcTests {
    @Test("this process: stat, command line, start time, group alive, executable")
    func me() throws {
        let me = try #require(SystemFacts.stat(of: getpid()))
        #expect(me.pid == getpid() && me.parent == getppid() && me.processGroup == getpgrp())
        #expect(!me.isZombie)
        #expect(SystemFacts.commandLine(of: getpid())?.isEmpty == false)
        let start = try #require(SystemFacts.processStartSeconds(getpid()))
        let now = Double(SystemTime.wallMicroseconds()) / 1e6
        #expect(start <= now + 1 && start > now - 86_400)
        #expect(SystemFacts.processGroupAlive(getpgrp(), startedAtSeconds: nil))
        #expect(SystemFacts.executablePath?.isEmpty == false)
        #expect(SystemFacts.allPids().contains(getpid()))
    }

    @Test("a zombie is seen as one, and its group counts as gone")
    func zombie() throws {
        let childShell = try Shell("exit 0")
        let child = childShell.child
        #expect(eventually { SystemFacts.isZombie(child.pid) })
        #expect(SystemFacts.processExists(child.pid))
        #expect(!SystemFacts.processGroupAlive(child.pid, startedAtSeconds: nil))
        #expect(SystemFacts.processGroupGone(child.pid))
        child.wait()
        #expect(!SystemFacts.processExists(child.pid))
    }

    @Test("stopProcessGroups ends a group that ignores SIGTERM")
    func stopGroups() throws {
        let childShell = try Shell("trap '' TERM; sleep 30 & wait")
        let child = childShell.child
        #expect(eventually { SystemFacts.groupMembers(child.pid, includingZombies: false).count == 2 })
        #expect(SystemFacts.describeGroup(child.pid).contains("sleep 30"))
        let left = SystemFacts.stopProcessGroups([child.pid], grace: 0.2)
        child.wait()
        #expect(left.isEmpty)
        #expect(eventually { SystemFacts.processGroupGone(child.pid) })
    }

    @Test("the monotonic clock does not go back; a closed port refuses the probe")
    func clockAndProbe() {
        let a = SystemTime.monotonicNanoseconds()
        let b = SystemTime.monotonicNanoseconds()
        #expect(b >= a)
        #expect(!tcpPortAccepts(host: "127.0.0.1", port: 1, milliseconds: 200))
    }
}
