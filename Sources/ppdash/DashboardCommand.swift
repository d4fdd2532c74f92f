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

    @OptionGroup var refresh: RefreshOption

    @OptionGroup var journal: JournalOptions

    func run() throws {
        let client = try engines.startEngines()
        let source = LocalSource(client: client)
        let session =
            isInteractive
            ? try journal.start(kind: "dashboard", engines: engines, client: client, source: source, gatherCompleted: true)
            : nil
        session?.observe()
        defer { session?.finish() }
        if isInteractive {
            note("ppdash: \(try openDashboard(source, refresh: refresh, session: session))")
        } else {
            note("ppdash: stdin or stdout is not a terminal: no dashboard; use 'ppdash run' or 'ppdash demo --headless' for plain output")
        }
        let snap = client.scheduler.snapshot(TableQuery(limit: 0))
        print("engines: \(snap.engines.count) (\(snap.engines.map { "\($0.id):\($0.info.kind.rawValue)@\($0.info.host)" }.joined(separator: " ")))")
        print("tasks: \(snap.totals.total)")
        client.shutdown()
    }
}

/// `--refresh`, for every command that can open the dashboard.
struct RefreshOption: ParsableArguments {
    @Option(name: .customLong("refresh"), parsing: .unconditional, help: ArgumentHelp("Dashboard refresh interval in seconds.", valueName: "SECONDS"))
    var interval = Seconds(0.1)

    func validate() throws { try interval.check("--refresh") }
}

/// Opens the dashboard on `source` until the user quits, decides what happens to the batch after, and ends the command
/// with the exit status that calls for (a thrown `ExitCode`). Returns only when no dashboard can start (no TTY, bad
/// TERM ...), with why, for a one-line note before the plain output.
///
/// With a journal `session`, its socket serves `ppdash attach` all along, also after a hangup.
func openDashboard(_ source: any DashboardSource, refresh: RefreshOption, session: JournalSession? = nil) throws -> String {
    journalNotes.mute(true)
    engineLog.mute(true)
    defer {
        engineLog.mute(false)
        journalNotes.mute(false)
    }
    switch runDashboard(source: session?.journaled(source) ?? source, options: DashboardOptions(refreshInterval: refresh.interval.value)) {
    case .quit:
        // A quit by the user (confirmed while tasks run) stops the batch and exits 0.
        let open = source.snapshot(TableQuery(limit: 0, batchLimit: 0)).totals
        source.stopAll()
        session?.finish(reason: open.pending + open.running > 0 ? "stopped" : "done")
        throw ExitCode(0)
    case .terminated:
        source.stopAll()
        session?.finish(reason: "terminated")
        throw ExitCode(143)
    case .hangup:
        // The link is gone: no screen any more; the batch runs to its end (and on while a view is attached).
        // SIGTERM or SIGINT now stops it as a quit would.
        StopSignals.install()
        while true {
            if let sig = StopSignals.caughtSignal {
                source.stopAll()
                session?.finish(reason: sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)")
                throw ExitCode(128 + sig)
            }
            let t = source.snapshot(TableQuery(limit: 0, batchLimit: 0)).totals
            if t.pending + t.running == 0 && (session?.viewerCount ?? 0) == 0 { break }
            usleep(200_000)
        }
        throw ExitCode(source.snapshot(TableQuery(limit: 0, batchLimit: 0)).totals.failed > 0 ? 1 : 0)
    case .noTerminal(let why):
        return why
    }
}
