import Glibc
import PPSystem
import Testing

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
        let member = try Shell("exec sleep 5").child
        defer {
            member.send(signal: SIGKILL)
            member.wait()
        }
        let m = try #require(SystemFacts.stat(of: member.pid))
        #expect(m.processGroup == member.pid && m.session == getsid(0))
        #expect(member.leadsGroup)

        let leader = try Shell("exec sleep 5", grouping: .newSession).child
        defer {
            leader.send(signal: SIGKILL)
            leader.wait()
        }
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
            descriptors: [
                .copy(out.write.raw, to: 1), .copy(extra.write.raw, to: 5), .open("/dev/null", flags: O_RDONLY, to: 0),
            ])
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
        let a = try Shell("exit 7").child
        #expect(a.wait() == .exited(7))
        let b = try Shell("kill -9 $$").child
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
