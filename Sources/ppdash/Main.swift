import ArgumentParser
import Foundation
import PPJournal
import PPKit
import PPSystem

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

    /// The library's `main()`, but a usage error is its message's first line and exit status 2 (as GNU parallel's).
    /// The only place the process exits: every command throws (an `ExitCode`, or an error) up to here.
    static func main() {
        // Every process this run starts on this host carries its marker, so a resume finds what a killed run left
        // running even when no journal line says so. A worker (`engine`) keeps the marker of the run that started it.
        if CommandLine.arguments.dropFirst().first != "engine" { SystemFacts.markThisRun() }
        do {
            // argv as bytes (CommandLine.arguments would turn bytes that are not UTF-8 into U+FFFD): see ByteText.
            let (parsed, rest) = try GNUArgv.normalizeSplit(Array(ByteText.commandLine.dropFirst()))
            var command: any ParsableCommand
            if rest.isEmpty {
                if let run = parseRunDirectly(parsed) { command = run } else { command = try parseAsRoot(parsed) }
            } else if var run = parseRunDirectly(parsed) ?? (try? parseAsRoot(parsed)) as? RunCommand,
                run.words.last == parsed.last
            {
                // The separator ended run's words (the library captures every word from the template on, as
                // given): the words after it are appended the same way, without the library's quadratic copy.
                run.words += rest
                command = run
            } else {
                command = try parseAsRoot(parsed + rest)  // the separator was an option's value, or a usage error
            }
            try command.run()
        } catch {
            if error is ExitCode || exitCode(for: error) == .success { exit(withError: error) }
            // ppdash's own errors (a bad sweep, an engine, a journal) say what went wrong in ppdash's voice; the
            // library's usage errors keep its wording.
            if error is PPError || error is SweepError || error is JournalError {
                FileHandle.standardError.write(Data("ppdash: \(error)\n".utf8))
                Foundation.exit(2)
            }
            // A system or Foundation error that reached the top: its plain words, never a Foundation error domain.
            if error is Errno || error is CocoaError || (error as NSError).domain == NSPOSIXErrorDomain {
                FileHandle.standardError.write(Data("ppdash: \(Messages.text(of: error))\n".utf8))
                Foundation.exit(2)
            }
            let message = fullMessage(for: error)
            FileHandle.standardError.write(Data((message.prefix { $0 != "\n" } + "\n").utf8))
            Foundation.exit(2)
        }
    }
}

extension PPDashCommand {
    /// `ppdash run ...` parsed by `run` alone, skipping what the root's parse does first for any subcommand: it builds
    /// the default subcommand's (the dashboard's) whole argument set, by reflection, only to learn whether it takes
    /// passthrough arguments. That was a third of `ppdash run -- true ::: 1`'s instructions.
    ///
    /// Only a success is taken, and it is the same value the root's parse gives (`FastRunParseAgreementTests`, over a
    /// table of argument vectors). Anything else defers to the root's parse: a usage error, `--help`, `--version`,
    /// every form the library words in the root's voice (the usage line, `ppdash run`), and every other subcommand.
    static func parseRunDirectly(_ arguments: [String]) -> RunCommand? {
        guard arguments.first == "run" else { return nil }
        return (try? RunCommand.parseAsRoot(Array(arguments.dropFirst()))) as? RunCommand
    }
}

let ppdashVersion = "0.1.0"
