import ArgumentParser
import Foundation
import PPKit
import PPSource
import Synchronization

/// The command line: the dashboard by default, headless runs, the recipe.
@main
struct PPDashCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ppdash",
        abstract: "Run and watch parallel tasks from a terminal.",
        discussion: "With no subcommand, opens the dashboard on local engines.",
        version: ppdashVersion,
        subcommands: [
            DashboardCommand.self, DemoCommand.self, RunCommand.self, ResumeCommand.self, LsCommand.self,
            AttachCommand.self, EngineCommand.self, IPPCommand.self,
        ],
        defaultSubcommand: DashboardCommand.self
    )

    /// Parses, runs, and maps every failure to one clear line: exit 2 for usage errors.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch let e as UsageError {
            FileHandle.standardError.write(Data("ppdash: \(e.message)\n".utf8))
            Foundation.exit(2)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            if error is PPError || error is SweepError {
                FileHandle.standardError.write(Data("ppdash: \(error)\n".utf8))
                Foundation.exit(2)
            }
            let message = self.message(for: error)
                .split(separator: "\n").first.map(String.init) ?? "\(error)"
            var clean = message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message
            if let first = clean.first, first.isUppercase, !clean.dropFirst().prefix(1).allSatisfy(\.isUppercase) {
                clean = first.lowercased() + clean.dropFirst()
            }
            FileHandle.standardError.write(Data("ppdash: \(clean) (see ppdash --help)\n".utf8))
            Foundation.exit(2)
        }
    }
}

let ppdashVersion = "0.1.0"

/// A usage error found after parsing: one line, exit 2.
struct UsageError: Error {
    var message: String
}

/// Engine options shared by every subcommand.
struct EngineOptions: ParsableArguments {
    @Option(name: [.customShort("n"), .customShort("j")], parsing: .unconditional, help: "Local engines (default: one per core); the same as -e local:N.")
    var n: Int?

    @Option(
        name: [.customShort("e"), .customLong("engines")], parsing: .unconditionalSingleValue,
        help: ArgumentHelp(
            "Engines: N or local:N (threads here), proc:N (worker processes), ssh:N/[user@]host[:port], listen[:PORT].",
            discussion: "Comma-separated or repeated. The dashboard's + adds one of the first spec's kind.",
            valueName: "SPEC[,SPEC...]"))
    var engines: [String] = []

    @Option(help: "Scheduling scheme: leastload, lru, random, weighted, twobin.")
    var scheme: String = "leastload"

    @Option(help: ArgumentHelp("The ssh command for ssh engines (default: $PPDASH_SSH, else ssh).", valueName: "COMMAND"))
    var ssh: String?

    @Option(name: .customLong("remote-ppdash"), help: ArgumentHelp("ppdash on ssh hosts: a name on their PATH or a path.", valueName: "PATH"))
    var remotePPDash = "ppdash"

    @Option(help: ArgumentHelp("The address a listen spec binds (127.0.0.1 unless you say otherwise).", valueName: "ADDRESS"))
    var bind = "127.0.0.1"

    @Option(name: .customLong("token-file"), help: ArgumentHelp("The listen token (created 0600 if missing; default ~/.ppdash/engine-token).", valueName: "FILE"))
    var tokenFile: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds between heartbeats with worker processes; 5 missed and the engine is dead.", valueName: "SECONDS"))
    var heartbeat: Double = 1

    func validate() throws {
        if let n, n < 1 { throw ValidationError("-n must be at least 1 (got \(n))") }
        if n != nil && !engines.isEmpty {
            throw ValidationError("give -n or -e, not both (-n N is -e local:N)")
        }
        if Scheme(name: scheme) == nil {
            throw ValidationError("unknown scheme '\(scheme)': use leastload, lru, random, weighted or twobin")
        }
        do throws(PPError) {
            _ = try specs()
            _ = try sshCommand()
        } catch {
            throw ValidationError(error.message)
        }
        if !(heartbeat >= 0.01 && heartbeat <= 3600) {
            throw ValidationError("--heartbeat must be from 0.01 to 3600 seconds (got \(heartbeat))")
        }
    }

    var engineCount: Int { n ?? ProcessInfo.processInfo.activeProcessorCount }

    /// The engine specs: `-e`, else `-n N` as `local:N`.
    func specs() throws(PPError) -> [EngineSpec] {
        if engines.isEmpty { return [.local(count: engineCount)] }
        return try EngineSpec.parseList(engines.joined(separator: ","), defaultCount: ProcessInfo.processInfo.activeProcessorCount)
    }

    /// `--ssh`, else `$PPDASH_SSH`, else `ssh`, split into words.
    func sshCommand() throws(PPError) -> [String] {
        let text = ssh ?? ProcessInfo.processInfo.environment["PPDASH_SSH"].flatMap { $0.isEmpty ? nil : $0 } ?? "ssh"
        let words = try splitCommandWords(text)
        guard !words.isEmpty else { throw PPError(.invalidArgument, "--ssh is empty: give a command such as 'ssh -F my_config'") }
        return words
    }

    /// Starts the engines and returns a client on them; prints the connect line of a listen spec.
    func startEngines() throws -> Client {
        var options = EngineLaunchOptions()
        options.sshCommand = try sshCommand()
        options.remotePPDash = remotePPDash
        options.bind = bind
        options.tokenPath = tokenFile
        options.remote.heartbeat = heartbeat
        options.remote.log = { engineLog.write($0) }
        let scheduler = Scheduler(scheme: Scheme(name: scheme) ?? .leastLoad)
        let launcher = try EngineLauncher(specs: try specs(), scheduler: scheduler, options: options)
        if let l = launcher.listener {
            note("ppdash: listening for engines on \(l.host):\(l.port); start each with:\n  \(l.connectCommand())")
        }
        let client = launcher.makeClient()
        client.scheduler.addObserver { [weak scheduler] event in
            guard case .engineDied(let id, let reason) = event, reason != "removed", let scheduler else { return }
            let host = scheduler.snapshot(TableQuery(limit: 0, batchLimit: 0)).engines.first { $0.id == id }?.info.host
            engineLog.write("ppdash: engine \(id) (\(host ?? "?")) died: \(reason)")
        }
        return client
    }

    /// `startEngines` for a command: a failure to start is one line and exit status 1.
    func startEnginesOrExit() throws -> Client {
        do {
            return try startEngines()
        } catch let e as PPError {
            note("ppdash: \(e)")
            throw ExitCode(1)
        }
    }

    /// `startEngines`, exiting with status 1 and the reason when an engine cannot start.
    func makeClient() -> Client {
        do {
            return try startEngines()
        } catch {
            note("ppdash: \(error)")
            Foundation.exit(1)
        }
    }
}

/// Where engine links report refused connections and protocol errors: stderr, muted while the dashboard is up.
let engineLog = EngineLog()

final class EngineLog: Sendable {
    private let muted = Mutex(false)
    func write(_ line: String) { if !muted.withLock({ $0 }) { note(line) } }
    func mute(_ on: Bool) { muted.withLock { $0 = on } }
}

/// Whether stdin and stdout are terminals.
var isInteractive: Bool { isatty(0) == 1 && isatty(1) == 1 }

/// Writes a line to stderr.
func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
