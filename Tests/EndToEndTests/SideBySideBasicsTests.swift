// The side-by-side harness itself: GNU parallel and ppdash agree on the simplest batch.
import Testing

@Suite("Side by side: basics", .endToEndSlot)
struct SideBySideBasicsTests {
    @Test("echo {} ::: a b c prints the same lines and exit status")
    func echoThree() async throws {
        let r = try await sideBySide(["echo", "{}", ":::", "a", "b", "c"])
        #expect(r.gnu.out == "a\nb\nc\n", "\(r.gnu)")
        expectSame(r, "echo {} ::: a b c")
    }

    @Test("a failing task: same output, same exit status")
    func oneFailure() async throws {
        let r = try await sideBySide(["echo {}; test {} != 2", ":::", "1", "2", "3"])
        #expect(r.gnu.exitCode == 1, "\(r.gnu)")
        expectSame(r, "one failure")
    }
}
