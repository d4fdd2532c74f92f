import Glibc
import PPSystem
import Testing

@Suite("The signal catcher", .serialized)
struct SignalTests {
    @Test("a signal raised to this process reaches the catcher, in order, and does not end the process")
    func caught() throws {
        let catcher = try SignalCatcher(catching: [SIGUSR1, SIGUSR2])
        // One at a time: two standard signals pending together are delivered lowest number first, whatever the
        // order they were raised in (the kernel's rule), so raising both at once made the order a race.
        kill(getpid(), SIGUSR2)
        let first = catcher.wait(milliseconds: 5000)
        #expect(first?.number == SIGUSR2)
        #expect(first?.fromTerminal == false)
        kill(getpid(), SIGUSR1)
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
