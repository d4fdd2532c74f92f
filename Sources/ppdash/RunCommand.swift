import ArgumentParser
import Foundation
import PPKit
import PPSource

/// A shell sweep, GNU parallel style: `ppdash run [options] [--] TEMPLATE [::: ARGS ...]`.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command template over arguments, in parallel (GNU parallel's syntax).",
        usage: "ppdash run [<options>] [--] TEMPLATE [::: ARGS ...]",
        discussion: """
            Examples:
              ppdash run -n 4 -- 'sleep 0.1; echo $(({}*{}))' ::: 0..99
              ls *.txt | ppdash run -- gzip {}
            Without ::: the arguments are stdin's lines. {} {1} {#} {%} {.} {/} {//} {/.} as in GNU parallel.
            Exit status: 0 all ok, 1 any task failed or timed out, 2 usage error.
            """)

    @OptionGroup var options: RunOptions

    @OptionGroup var journal: JournalOptions

    /// The template and its arguments: everything from the first word that is not one of run's options, as given
    /// (so a template's own flags, `grep -v`, stay the template's).
    @Argument(
        parsing: .captureForPassthrough,
        help: ArgumentHelp(
            "The command template, then ::: and its arguments (without :::, stdin's lines).", valueName: "template"))
    var words: [String] = []

    func validate() throws {
        guard let first = words.first, first != "--", first != "-", first.hasPrefix("-") else { return }
        // The passthrough array holds whatever stood where an option may: the built-in flags are the library's.
        if ["-h", "--help", "-help"].contains(first) { throw CleanExit.helpRequest(self) }
        if first == "--version" { throw CleanExit.message(ppdashVersion) }
        throw ValidationError("Unknown option '\(first)' (put the command after --; see 'ppdash run --help')")
    }

    func run() throws {
        var sweep: Sweep
        do { sweep = try Sweep.parse(words: Array(words.first == "--" ? words.dropFirst() : words[...])) } catch {
            throw ValidationError(error.description)
        }
        if sweep.groups.isEmpty {
            if isatty(0) == 1 { note("ppdash: reading arguments from the terminal; end with Ctrl-D") }
            var lines = [String]()
            // Up to one past the cap, so an endless stdin (`yes |`) is refused by the batch cap, not read for ever.
            while lines.count <= ViewFlags.maxBatchTasks, let line = readLine(strippingNewline: true) { lines.append(line) }
            sweep = Sweep(template: sweep.template, groups: [lines])
        }
        try options.execute(.sweep(sweep, journal))
    }
}
