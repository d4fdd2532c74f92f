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
    @Option(name: .customLong("refresh"), parsing: .unconditional, help: ArgumentHelp("Dashboard refresh interval in seconds (default 0.1, or the config file's refresh).", valueName: "SECONDS"))
    var given: Seconds?

    @Flag(name: .customLong("no-mouse"), help: "Leave the mouse to the terminal (its own selection); m toggles it in the dashboard.")
    var noMouse = false

    @Option(
        name: .customLong("config"),
        help: ArgumentHelp(
            "Dashboard settings file (default $XDG_CONFIG_HOME/ppdash/config.toml or ~/.config/ppdash/config.toml).",
            valueName: "FILE"))
    var configFile: String?

    func validate() throws {
        try given?.check("--refresh")
        if let f = configFile, case .failure(let e) = ConfigFile.load(path: f, mustExist: true) {
            throw ValidationError(e.description)
        }
    }

    /// The refresh interval: `--refresh`, else the config file's, else 0.1 s.
    var interval: Seconds { given ?? Seconds(loadedConfig.config.refresh ?? 0.1) }

    /// The config file (named or default) and what was wrong in it.
    var loadedConfig: (config: DashboardConfig, path: String?, warnings: [String]) {
        let path = configFile ?? ConfigFile.defaultPath(environment: ConfigFile.processEnvironment)
        guard let path else { return (DashboardConfig(), nil, []) }
        switch ConfigFile.load(path: path, mustExist: configFile != nil) {
        case .success(let (c, w)): return (c, path, w)
        case .failure(let e): return (DashboardConfig(), path, ["ppdash: " + e.description])
        }
    }

    /// The dashboard's options from these flags and the config file; its warnings go to stderr once.
    func dashboardOptions() -> DashboardOptions {
        let loaded = loadedConfig
        for w in loaded.warnings { note(w) }
        var o = DashboardOptions(refreshInterval: (given ?? Seconds(loaded.config.refresh ?? 0.1)).value)
        o.config = loaded.config
        o.configPath = loaded.path
        o.configWarnings = loaded.warnings
        // --no-mouse wins; else the config file's `mouse`, else on.
        o.mouse = !noMouse && (loaded.config.mouse ?? true)
        return o
    }
}

/// How the dashboard ended, when the command goes on after it.
enum DashboardEnd {
    /// The user quit (`q`, Ctrl-C; confirmed while tasks were open): `open` tasks were pending or running then.
    case quit(open: Int)
    /// The terminal hung up (SIGHUP) at `at`: nothing more can be shown there.
    case hangup(at: Timestamp)
    /// No dashboard could start (no TTY, bad TERM ...): why, for a one-line note before the plain output.
    case noTerminal(String)
}

/// Opens the dashboard on `source` until the user quits or the terminal goes, and says how it ended. SIGTERM (or
/// SIGINT from another process) ends the command here: the batch is stopped, recorded, and the status is 143.
///
/// With a journal `session`, its socket serves `ppdash attach` all along, also after a hangup.
func showDashboard(_ source: any DashboardSource, refresh: RefreshOption, session: JournalSession? = nil) throws -> DashboardEnd {
    journalNotes.mute(true)
    engineLog.mute(true)
    defer {
        engineLog.mute(false)
        journalNotes.mute(false)
    }
    switch runDashboard(source: session?.journaled(source) ?? source, options: refresh.dashboardOptions()) {
    case .quit:
        let open = source.snapshot(TableQuery(limit: 0, batchLimit: 0)).totals
        return .quit(open: open.pending + open.running)
    case .terminated:
        source.stopAll()
        session?.finish(reason: "terminated")
        throw ExitCode(143)
    case .hangup:
        return .hangup(at: SystemClock().now())
    case .noTerminal(let why):
        return .noTerminal(why)
    }
}

/// Opens the dashboard on `source` until the user quits, decides what happens to the batch after, and ends the command
/// with the exit status that calls for (a thrown `ExitCode`). Returns only when no dashboard can start (no TTY, bad
/// TERM ...), with why, for a one-line note before the plain output.
///
/// With a journal `session`, its socket serves `ppdash attach` all along, also after a hangup.
func openDashboard(_ source: any DashboardSource, refresh: RefreshOption, session: JournalSession? = nil) throws -> String {
    switch try showDashboard(source, refresh: refresh, session: session) {
    case .quit(let open):
        // A quit by the user (confirmed while tasks run) stops the batch and exits 0.
        source.stopAll()
        session?.finish(reason: open > 0 ? "stopped" : "done")
        throw ExitCode(0)
    case .hangup(let at):
        // The link is gone: no screen any more; the batch runs to its end (and on while a view is attached).
        // SIGTERM, SIGINT or SIGQUIT now stops it as a quit would.
        StopSignals.install([SIGINT, SIGTERM, SIGQUIT])
        let hungUp = "terminal hung up at \(at.iso8601)"
        while true {
            if let sig = StopSignals.caughtSignal {
                source.stopAll()
                session?.finish(reason: StopSignals.stopReason(sig) + "; " + hungUp)
                throw ExitCode(128 + sig)
            }
            let t = source.snapshot(TableQuery(limit: 0, batchLimit: 0)).totals
            if t.pending + t.running == 0 && (session?.viewerCount ?? 0) == 0 { break }
            usleep(200_000)
        }
        session?.finish(reason: "finished; " + hungUp)
        throw ExitCode(source.snapshot(TableQuery(limit: 0, batchLimit: 0)).totals.failed > 0 ? 1 : 0)
    case .noTerminal(let why):
        return why
    }
}
