import ArgumentParser
import Foundation
import PPDash
import PPJournal
import PPKit
import PPSource

/// `ppdash` with no subcommand: the dashboard on local engines.
struct DashboardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard", abstract: "Open the dashboard on local engines (the default).")

    @OptionGroup var engines: EngineOptions

    @Option(help: "Refresh interval in seconds.")
    var refresh: Double = 0.1

    @OptionGroup var journal: JournalOptions

    func validate() throws {
        if refresh <= 0 { throw ValidationError("--refresh must be > 0 seconds (got \(refresh))") }
    }

    func run() throws {
        let client = engines.makeClient()
        let source = LocalSource(client: client)
        let session =
            isInteractive
            ? try journal.start(kind: "dashboard", engines: engines, client: client, source: source, gatherCompleted: true)
            : nil
        session?.observe()
        defer { session?.finish() }
        if isInteractive {
            engineLog.mute(true)
            defer { engineLog.mute(false) }
            switch openDashboard(source, refresh: refresh, session: session) {
            case .handled(let code): throw ExitCode(code)
            case .fallback(let why): note("ppdash: \(why)")
            }
        } else {
            note("ppdash: stdin or stdout is not a terminal: no dashboard; use 'ppdash run' or 'ppdash demo --headless' for plain output")
        }
        let snap = client.scheduler.snapshot(TableQuery(limit: 0))
        print("engines: \(snap.engines.count) (\(snap.engines.map { "\($0.id):\($0.info.kind.rawValue)@\($0.info.host)" }.joined(separator: " ")))")
        print("tasks: \(snap.totals.total)")
        client.shutdown()
    }
}

/// What the dashboard did.
enum DashboardResult {
    /// It ran; exit with this code.
    case handled(Int32)
    /// It could not start (no TTY, bad TERM ...): the reason, for a one-line note; plain output follows.
    case fallback(String)
}

/// Opens the dashboard on `source` until the user quits; decides what happens to the batch after.
///
/// With a journal `session`, its socket serves `ppdash attach` all along, also after a hangup.
func openDashboard(_ source: any DashboardSource, refresh: Double, session: JournalSession? = nil) -> DashboardResult {
    journalNotes.mute(true)
    defer { journalNotes.mute(false) }
    switch runDashboard(source: session?.journaled(source) ?? source, options: DashboardOptions(refreshInterval: refresh)) {
    case .quit:
        // A quit by the user (confirmed while tasks run) stops the batch and exits 0.
        let open = source.snapshot(TableQuery(limit: 0, batchLimit: 0)).totals
        source.stopAll()
        session?.finish(reason: open.pending + open.running > 0 ? "stopped" : "done")
        return .handled(0)
    case .terminated:
        source.stopAll()
        session?.finish(reason: "terminated")
        return .handled(143)
    case .hangup:
        // The link is gone: no screen any more; the batch runs to its end (and on while a view is attached).
        // SIGTERM or SIGINT now stops it as a quit would.
        StopSignals.install()
        while true {
            if let sig = StopSignals.caughtSignal {
                source.stopAll()
                session?.finish(reason: sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)")
                return .handled(128 + sig)
            }
            let t = source.snapshot(TableQuery(limit: 0, batchLimit: 0)).totals
            if t.pending + t.running == 0 && (session?.viewerCount ?? 0) == 0 { break }
            usleep(200_000)
        }
        return .handled(source.snapshot(TableQuery(limit: 0, batchLimit: 0)).totals.failed > 0 ? 1 : 0)
    case .noTerminal(let why):
        return .fallback(why)
    }
}
