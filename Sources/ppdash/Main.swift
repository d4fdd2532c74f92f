import ArgumentParser
import Foundation
import PPKit

/// The command line: the dashboard by default, headless runs, the recipe.
@main
struct PPDashCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ppdash",
        abstract: "Run and watch parallel tasks from a terminal.",
        discussion: "With no subcommand, opens the dashboard on local engines.",
        version: ppdashVersion,
        subcommands: [DashboardCommand.self, DemoCommand.self, RunCommand.self],
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
            let clean = message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message
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
    @Option(name: [.customShort("n"), .customShort("j")], parsing: .unconditional, help: "Local engines (default: one per core).")
    var n: Int?

    @Option(help: "Scheduling scheme: leastload, lru, random, weighted, twobin.")
    var scheme: String = "leastload"

    func validate() throws {
        if let n, n < 1 { throw ValidationError("-n must be at least 1 (got \(n))") }
        if Scheme(name: scheme) == nil {
            throw ValidationError("unknown scheme '\(scheme)': use leastload, lru, random, weighted or twobin")
        }
    }

    var engineCount: Int { n ?? ProcessInfo.processInfo.activeProcessorCount }

    func makeClient() -> Client { Client(engines: engineCount, scheme: Scheme(name: scheme) ?? .leastLoad) }
}

/// Whether stdin and stdout are terminals.
var isInteractive: Bool { isatty(0) == 1 && isatty(1) == 1 }

/// Writes a line to stderr.
func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
