// The journal writer tests' one fixture: a client and a journal writer on its scheduler, in a fresh directory,
// wired step by step as a run's session wires them (CompletedLine, CompactJournal, JournalRound).
import Foundation
import PPKit
import PPSource
import Testing

@testable import PPJournal

/// `engines` in-process engines, and a writer of `dir/name` (header kind `kind`, the engines as `local:N`) whose
/// warnings are test issues. Nothing reaches the writer until `announceEngines`/`feedEvents`/`feedRounds` say so;
/// `close()` shuts the client down and removes the directory.
struct JournaledClient {
    let dir: String
    let path: String
    let client: Client
    let writer: JournalWriter

    init(_ name: String, engines: Int, kind: String = "run", gatherCompleted: Bool = false) throws {
        dir = tempDir()
        path = dir + "/" + name
        client = Client(engines: engines)
        do {
            writer = try JournalWriter(
                path: path,
                header: JournalHeader(kind: kind, ppdashVersion: "test", engines: engines > 0 ? ["local:\(engines)"] : []),
                scheduler: client.scheduler, gatherCompleted: gatherCompleted, warn: { Issue.record("warning: \($0)") })
        } catch {
            client.shutdown()
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
    }

    /// The engines' lines, as a run's session writes them (completed lines name the host only where they differ):
    /// every engine `which` keeps.
    func announceEngines(where which: (EngineSnapshot) -> Bool = { _ in true }) {
        for e in client.scheduler.snapshot(TableQuery(limit: 0, batchLimit: 0)).engines where which(e) {
            writer.recordEngine(e)
        }
    }

    /// The writer sees each event as it is delivered.
    func feedEvents() { client.scheduler.addObserver { writer.record($0) } }

    /// The writer sees a delivery round's events at once (one write per round).
    func feedRounds() { client.scheduler.addRoundObserver { writer.record($0) } }

    /// Ends the journal as a run does: the events still queued delivered, then the end line.
    func finish() {
        client.scheduler.flushEvents()
        writer.finish(reason: "done", totals: client.scheduler.totals)
    }

    func close() {
        client.shutdown()
        try? FileManager.default.removeItem(atPath: dir)
    }
}
