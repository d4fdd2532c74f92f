import CPPSys

/// A lock for the scheduler's state, which more engine threads than cores hit per task: it spins briefly, then
/// yields the core (so a preempted holder can finish), then parks on a futex. `Mutex` parks at once, and on 2 cores
/// with 4 engines that turned every hand-off into a context switch (35k tasks/s against 500k+).
public final class HotLock<Value: Sendable>: @unchecked Sendable {
    // `value` is read and written only between ppsys_lock(word) and ppsys_unlock(word): that lock makes this Sendable
    // (and `Value: Sendable`, so what goes in and comes out may cross threads).
    @usableFromInline let word: UnsafeMutablePointer<ppsys_lock_t>
    // Unchecked: only ever reached through `withLock`, under the lock (a dynamic exclusivity check cost ~80
    // instructions per hold, on every task's completion).
    @exclusivity(unchecked) @usableFromInline var value: Value

    public init(_ value: Value) {
        word = .allocate(capacity: 1)
        word.initialize(to: ppsys_lock_t(word: 0))
        self.value = value
    }

    deinit { word.deallocate() }

    @inlinable @inline(__always)
    public func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        ppsys_lock(word)
        defer { ppsys_unlock(word) }
        return try body(&value)
    }
}
