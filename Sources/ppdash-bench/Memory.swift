import Foundation
import Glibc
import PPKit
import PPSystem

/// Resident bytes of this process, from /proc/self/statm.
func residentBytes() -> Int {
    guard let raw = SystemFacts.contents(of: "/proc/self/statm") else { return 0 }
    let fields = String(decoding: raw, as: UTF8.self).split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Memory per finished task record: the RSS growth over `count` no-op tasks, in a process of its own (so memory
/// freed by earlier figures does not hide the growth).
enum Memory {
    /// Runs `ppdash-bench --child memory --count N` and reads the bytes per task it prints.
    static func perTaskRecord(count: Int) throws -> Double {
        let me = SystemFacts.executablePath ?? CommandLine.arguments[0]
        let text = try SpawnLoop.run(me, ["--child", "memory", "--count", String(count)])
        guard let v = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw BenchError("the memory child printed '\(text)'")
        }
        return v
    }

    /// The child's side: 4 in-process engines, a warm-up, then RSS before and after `count` no-ops (records kept).
    static func child(count: Int) throws -> Double {
        let client = Client(engines: 4)
        let view = client.loadBalancedView()
        _ = try view.submit(builtins: Array(repeating: .noop, count: 1000)).get()
        SystemFacts.trimHeap()
        let before = residentBytes()
        // One batch: what the scheduler keeps of it stays (the records, the ready queue's capacity), the arrays
        // that carried it in go.
        _ = try view.submit(builtins: [BuiltinTask](repeating: .noop, count: count)).wait()
        SystemFacts.trimHeap()
        let after = residentBytes()
        guard client.scheduler.totals.ok == count + 1000 else { throw BenchError("not every no-op finished ok") }
        return Double(after - before) / Double(count)
    }
}
