import ArgumentParser
import Foundation
import PPDash
import PPKit

/// `ppdash` with no subcommand: the dashboard on local engines.
struct DashboardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard", abstract: "Open the dashboard on local engines (the default).")

    @OptionGroup var engines: EngineOptions

    @Option(help: "Refresh interval in seconds.")
    var refresh: Double = 0.1

    func validate() throws {
        if refresh <= 0 { throw ValidationError("--refresh must be > 0 seconds (got \(refresh))") }
    }

    func run() throws {
        let client = engines.makeClient()
        let source = LocalSource(client: client)
        if isInteractive {
            switch openDashboard(source, refresh: refresh) {
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
func openDashboard(_ source: any DashboardSource, refresh: Double) -> DashboardResult {
    switch runDashboard(source: source, options: DashboardOptions(refreshInterval: refresh)) {
    case .quit:
        // A quit by the user (confirmed while tasks run) stops the batch and exits 0.
        source.stopAll()
        return .handled(0)
    case .terminated:
        source.stopAll()
        return .handled(143)
    case .hangup:
        // The link is gone: no screen any more, the batch runs to its end.
        while true {
            let t = source.snapshot(TableQuery(limit: 0, batchLimit: 0)).totals
            if t.pending + t.running == 0 { break }
            usleep(200_000)
        }
        return .handled(source.snapshot(TableQuery(limit: 0, batchLimit: 0)).totals.failed > 0 ? 1 : 0)
    case .noTerminal(let why):
        return .fallback(why)
    }
}
