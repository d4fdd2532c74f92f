import ArgumentParser
import Foundation
import PPDash
import PPJournal
import PPKit
import PPSource

/// `ppdash attach [JOURNAL|latest]`: the dashboard on a running ppdash's socket, or its journal read-only.
struct AttachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Open the dashboard on a running batch (same keys; q or d detach, Q stops the batch).",
        discussion: """
            Examples:
              ppdash attach            # the newest batch running here, else the newest journal
              ppdash attach ~/.local/state/ppdash/20261129-101220-login1-4711.jsonl
            When the ppdash that ran the batch has ended, its journal opens read-only, and the header says so.
            """)

    @Argument(help: ArgumentHelp("The journal: a path, or 'latest' (the default).", valueName: "JOURNAL"))
    var journal: String?

    @OptionGroup var refresh: RefreshOption

    func run() throws {
        let path = try resolveJournal(journal)
        // Connect first: the header and the tail (constant work, as `ls`) say whether the batch runs and where its
        // socket is; the whole journal is read only when it is shown from the file.
        let glance: JournalGlance
        do {
            try JournalReader.checkReadable(path)
            glance = try JournalListing.glance(path)
        } catch {
            throw ValidationError(error.message)
        }
        let last = glance.last
        let state = JournalListing.state(of: glance)
        var source: any DashboardSource
        var contents: JournalContents?
        var live: SocketSource?
        var why = ""
        switch state {
        case .running(let pid):
            if let socket = last.socket {
                do {
                    live = try SocketSource(socket: socket, journal: path)
                } catch {
                    // It runs: trouble reaching it (refused, too many viewers, no answer) never shows it as ended.
                    note("ppdash: cannot connect to ppdash pid \(pid): \(error.message); showing its journal and trying again")
                    live = SocketSource(unreachable: socket, journal: path, pid: pid, why: error.message)
                }
            } else {
                why = "ppdash pid \(pid) runs without a socket"
            }
        case .runningElsewhere(let host, let pid):
            why = "it runs on \(host) (pid \(pid)): attach there ('ssh \(host) ppdash attach \(path)')"
        case .finished:
            why = "its ppdash (pid \(last.pid)) finished"
        case .interrupted:
            why = "its ppdash (pid \(last.pid)) is gone without finishing ('ppdash resume \(path)' runs the rest)"
        }
        if let live {
            source = live
        } else {
            let c = try readJournal(path)
            contents = c
            source = JournalSource(c, label: "read-only")
            note("ppdash: \(path) opened read-only: \(why)")
        }

        guard isInteractive else {
            let c = (live?.snapshot(TableQuery(limit: 0, batchLimit: 0)).totals) ?? contents?.counts ?? StatusCounts()
            print("\(path): \(live != nil ? "running, pid \(live!.server.pid)" : state.description)")
            print("tasks: \(c.total), \(c.done) done: \(c.ok) ok, \(c.failed) failed; \(c.running) running, \(c.pending) pending")
            return
        }
        var options = refresh.dashboardOptions()
        options.attached = true
        let exit = runDashboard(source: source, options: options)
        if case .noTerminal(let reason) = exit {
            note("ppdash: \(reason)")
            throw ExitCode(1)
        }
        guard let live, exit != .hangup else { return }
        if live.stoppedBatch {
            note("ppdash: batch stopped (pid \(live.server.pid)); the journal records every task")
        } else if live.isReadOnly {
            note("ppdash: the batch's ppdash (pid \(live.server.pid)) has ended; 'ppdash ls' shows how it ended")
        } else if case let t = live.snapshot(TableQuery(limit: 0, batchLimit: 0)).totals, t.pending + t.running == 0 {
            note("ppdash: detached; the batch is done (pid \(live.server.pid))")
        } else {
            note("ppdash: detached; the batch runs on (pid \(live.server.pid)): 'ppdash attach \(path)' comes back")
        }
    }
}
