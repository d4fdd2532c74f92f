import Foundation
import PPSource
import PPTerm
import Testing

@testable import PPDash
@testable import PPKit

/// Issue 17 item 7: a million tasks typed at the prompt. Counted, never timed: the submit makes a bounded read-ahead,
/// and every frame meanwhile reads its rows only.
@Suite("A million tasks from the prompt")
struct MillionPromptTests {
    @Test("submitting 1,000,000 tasks at the prompt makes only a read-ahead; frames read their rows while they run")
    func millionFromThePrompt() throws {
        let client = Client(engines: 2)
        defer { client.shutdown() }
        client.scheduler.isPaused = true
        let source = LocalSource(client: client)
        let c = DashboardController(source: source, size: Size(rows: 30, cols: 100), capabilities: color)
        let rows = c.state.query.limit
        c.handle(.char("s"))
        for ch in "true {} ::: 1..1000000" { c.handle(.char(ch)) }
        c.handle(.enter)
        #expect(c.state.message?.text.contains("submitted") == true, "\(c.state.message?.text ?? "no message")")
        #expect(c.snapshot.totals.total == 1_000_000, "all counted at once")
        let made = c.snapshot.table.total
        #expect(made <= Scheduler.State.readAhead + 2, "made \(made), not a million")
        #expect(source.lastLockedCost <= rows)
        // Running: each frame reads its rows; the upkeep between frames copies a chunk at most.
        client.scheduler.isPaused = false
        let deadline = Date().addingTimeInterval(60)
        var frames = 0
        while c.snapshot.totals.done < 40 && Date() < deadline {
            c.poll()
            _ = c.frame()
            #expect(source.lastLockedCost <= rows && source.lastSnapshotCost <= rows, "a frame reads its rows")
            _ = c.idle()
            #expect(source.lastIdleCost <= LocalSource.keyChunk)
            frames += 1
            Thread.sleep(forTimeInterval: 0.01)  // the app's wait between frames; the loop ends on a count
        }
        #expect(c.snapshot.totals.done >= 40, "tasks ran while the dashboard drew \(frames) frames")
        #expect(c.snapshot.totals.total == 1_000_000)
        // A sort over what is made so far reads the copy the upkeep keeps.
        c.handle(.char(">"))
        #expect(c.state.query.sort != .id)
        #expect(c.snapshot.table.matching <= c.snapshot.table.total)
        client.scheduler.isPaused = true
    }
}
