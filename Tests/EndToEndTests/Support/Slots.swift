// At most a few end-to-end tests run at once: each starts real processes (ppdash, workers, sshd, tmux, Slurm,
// ipyparallel), and the test library starts every async test together, so on 2 cores a hundred of them at once
// starved each other past their deadlines. A test waits for a slot before it starts; its own deadlines count
// from then.
import Testing

/// Hands out `limit` slots; a waiter resumes in arrival order.
actor TestSlots {
    static let shared = TestSlots(limit: 6)

    private let limit: Int
    private var used = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { self.limit = limit }

    func acquire() async {
        if used < limit {
            used += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty {
            used -= 1
        } else {
            waiting.removeFirst().resume()  // the slot passes to the next waiter
        }
    }
}

/// The trait every end-to-end suite carries: each of its test cases runs holding one of `TestSlots.shared`.
struct EndToEndSlot: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        // A suite, or a parameterised test as a whole: its cases take their own slots.
        guard testCase != nil else { return try await function() }
        await TestSlots.shared.acquire()
        do {
            try await function()
        } catch {
            await TestSlots.shared.release()
            throw error
        }
        await TestSlots.shared.release()
    }
}

extension Trait where Self == EndToEndSlot {
    /// One of a few end-to-end tests running at once (see `TestSlots`).
    static var endToEndSlot: Self { EndToEndSlot() }
}
