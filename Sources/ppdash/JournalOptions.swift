import ArgumentParser
import Foundation
import PPDash
import PPJournal
import PPKit
import PPSource

/// `--journal FILE` / `--no-journal`, shared by run, demo and the dashboard.
struct JournalOptions: ParsableArguments {
    @Option(
        name: .customLong("journal"),
        help: ArgumentHelp(
            "Write the task journal here (default: a new file in $XDG_STATE_HOME/ppdash/, else ~/.local/state/ppdash/).",
            valueName: "FILE"))
    var path: String?

    @Flag(name: .customLong("no-journal"), help: "Write no journal (then no 'ppdash attach' and no 'ppdash resume').")
    var off = false

    func validate() throws {
        if path != nil && off { throw ValidationError("give --journal FILE or --no-journal, not both") }
        // The journal's files are made through Foundation, which cannot name bytes that are not UTF-8: refused, never
        // written under another name.
        if let path, ByteText.hasEscapes(path) || (!path.hasPrefix("/") && ByteText.hasEscapes(SystemFacts.currentDirectory)) {
            throw ValidationError(
                "--journal \(ByteText.lossy(path)): the journal's path must be UTF-8 (it, or the directory it is relative to, holds other bytes)")
        }
    }

    /// Opens the journal and its socket for a run of `kind`; nil with --no-journal, or after one warning when the
    /// default place cannot be written (the batch runs on). A --journal FILE that exists is refused, never
    /// overwritten; one that cannot be created is a usage error (exit 2). A default name taken already (two runs in
    /// the same second with the same pid) gets a suffix; a --journal FILE elsewhere is registered in the default
    /// directory (a symlink), so `ls` and `attach latest` find it.
    func start(
        kind: String, engines: EngineOptions, client: Client, source: any DashboardSource, template: String? = nil,
        arguments: [ArgGroup]? = nil, settings: RunSettings? = nil, gatherCompleted: Bool = false
    ) throws -> JournalSession? {
        guard !off else { return nil }
        let started = SystemClock().now()
        let directory = JournalFormat.defaultDirectory()
        var header = JournalHeader(
            kind: kind, ppdashVersion: ppdashVersion, engines: engines.specTexts, template: template,
            arguments: arguments, started: started)
        header.settings = settings
        let explicit = path.map(absolutePath)
        for attempt in 1...JournalFormat.maxNameAttempts {
            let file =
                explicit
                ?? directory + "/"
                + JournalFormat.fileName(started: started, host: SystemFacts.hostName, pid: SystemFacts.pid, attempt: attempt)
            do {
                let session = try JournalSession(
                    path: file, header: header, scheduler: client.scheduler, source: source,
                    gatherCompleted: gatherCompleted, makeDirectory: explicit == nil, ppdashVersion: ppdashVersion,
                    warn: { journalNotes.write($0) })
                if let explicit {
                    do throws(JournalError) {
                        try JournalFormat.register(explicit, in: directory, started: started)
                    } catch {
                        journalNotes.write("ppdash: \(error.message); 'ppdash ls' will not list this run")
                    }
                }
                return session
            } catch let e where e.kind == .exists && explicit == nil {
                continue
            } catch let e where explicit != nil {
                client.shutdown()
                note("ppdash: \(e.message)")
                throw ExitCode(2)
            } catch {
                journalNotes.write("ppdash: \(error.message); the batch runs on without a journal (--journal FILE to choose another place)")
                return nil
            }
        }
        journalNotes.write("ppdash: no free journal name in \(directory); the batch runs on without a journal (--journal FILE to choose one)")
        return nil
    }
}

extension RunOptions {
    /// The options a resume of this run reuses (the journal header's `options`).
    var recordedSettings: RunSettings {
        let cwd = SystemFacts.currentDirectory
        let dir = workdir.map { $0.hasPrefix("/") ? $0 : cwd + "/" + $0 } ?? cwd
        var settings = RunSettings(
            timeout: timeout?.value, retries: retries, maxOutput: maxOutput, halt: halt?.rawValue,
            scheme: engines.scheme.rawValue, environment: envNames, workdir: dir)
        settings.timeoutPercent = timeout?.percent
        return settings
    }
}

/// `path` made absolute against the working directory.
func absolutePath(_ path: String) -> String {
    let expanded = (path as NSString).expandingTildeInPath
    return expanded.hasPrefix("/") ? expanded : FileManager.default.currentDirectoryPath + "/" + expanded
}

/// A journal named on the command line: a path, or `latest`.
func resolveJournal(_ name: String?) throws -> String {
    let dir = JournalFormat.defaultDirectory()
    guard let name, name != "latest" else {
        guard let p = JournalListing.latest(in: dir) else {
            throw ValidationError("no journal in \(dir) yet: ppdash run, demo and the dashboard write one there")
        }
        return p
    }
    return absolutePath(name)
}

/// Reads a journal for resume or attach: a refusal (newer format, corrupt, another user's) is a usage error.
func readJournal(_ path: String) throws -> JournalContents {
    do {
        let c = try JournalReader.read(path, keepOutput: false)
        for w in c.warnings { note("ppdash: \(w)") }
        return c
    } catch {
        throw ValidationError(error.message)
    }
}
