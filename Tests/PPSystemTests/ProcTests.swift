import Glibc
import PPSystem
import Testing

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

    @Test("processes(markedWith:) finds a process by the run marker in its environment, and only by that marker")
    func runMarker() throws {
        let tag = "test-\(getpid())-\(UInt32.random(in: 1...UInt32.max))"
        var plan = SpawnPlan(executable: "/bin/sh", arguments: ["sh", "-c", "sleep 30"], grouping: .newGroup)
        plan.environment = [SystemFacts.runMarkerVariable: tag]
        let child = try plan.spawn()
        defer {
            child.send(signal: SIGKILL)
            child.wait()
        }
        #expect(eventually { SystemFacts.processes(markedWith: [tag]).contains { $0.pid == child.pid } })
        #expect(SystemFacts.processes(markedWith: [tag + "x"]).isEmpty)
        #expect(SystemFacts.processes(markedWith: []).isEmpty)
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

    @Test("a session leader's other process groups are found, and killProcessGroups ends them and sees them gone")
    func sessionGroups() throws {
        // A worker leads its session; with job control its child runs in a group of its own, as a task does.
        let leader = try Shell("exec bash -c 'set -m; sleep 30 & wait'", grouping: .newSession)  // dash's set -m needs a tty
        let child = leader.child
        #expect(eventually { SystemFacts.groupsInSession(child.pid).count == 1 })
        let groups = SystemFacts.groupsInSession(child.pid)
        #expect(!groups.contains(child.pid), "the leader's own group is not a task's")
        #expect(groups.allSatisfy { SystemFacts.describeGroup($0).contains("sleep 30") })
        #expect(SystemFacts.killProcessGroups(groups, wait: 2).isEmpty)
        #expect(groups.allSatisfy { SystemFacts.processGroupGone($0) })
        child.send(signal: SIGKILL)
        child.wait()
    }

    @Test("the monotonic clock does not go back; a closed port refuses the probe")
    func clockAndProbe() {
        let a = SystemTime.monotonicNanoseconds()
        let b = SystemTime.monotonicNanoseconds()
        #expect(b >= a)
        #expect(!tcpPortAccepts(host: "127.0.0.1", port: 1, milliseconds: 200))
        #expect(tcpProbe(host: "127.0.0.1", port: 1, milliseconds: 200) == .refused)
    }

    @Test("the probe sees a listening port on loopback")
    func probeAccepts() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        try #require(bound && listen(fd, 4) == 0)
        #expect(tcpPortAccepts(host: "127.0.0.1", port: Int(UInt16(bigEndian: addr.sin_port))))
    }

    @Test("a listener that never accepts (hung: its backlog fills) is no answer, never refused")
    func probeFullBacklog() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        try #require(bound && listen(fd, 0) == 0)
        let port = Int(UInt16(bigEndian: addr.sin_port))
        // The probes' own connections fill the backlog (their sockets close, the queued connections stay).
        var results: [TCPProbe] = []
        for _ in 0..<6 {
            let r = tcpProbe(host: "127.0.0.1", port: port, milliseconds: 200)
            results.append(r)
            if r == .noAnswer { break }
        }
        #expect(!results.contains(.refused), "\(results)")
        #expect(results.last == .noAnswer, "\(results)")
    }

    @Test("the kill and grace timings nest: each wait covers the one it waits for")
    func timingsNest() {
        #expect(Timings.workerTaskStop > Timings.taskGrace)
        #expect(Timings.workerLeave > Timings.workerTaskStop)
        #expect(Timings.shutdownWait >= Timings.workerLeave)
        #expect(Timings.nanoseconds(1.5) == 1_500_000_000 && Timings.nanoseconds(.infinity) == nil)
    }
}
