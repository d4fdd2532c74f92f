import Foundation
import Glibc
import PPSystem

/// One run of a Slurm client command (`sbatch`, `squeue`, `scancel`), bounded in time: a controller that does not
/// answer is an error naming the command, never a hang.
struct SlurmCommand {
    /// What it printed and how it ended.
    struct Output {
        var status: ExitStatus?
        var stdout: String
        var stderr: String
        var ok: Bool { status?.exitCode == 0 }
        /// The first line of stderr (else stdout), for an error message.
        var firstLine: String {
            let text = stderr.isEmpty ? stdout : stderr
            return text.split(separator: "\n").first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
        }
    }

    /// Runs `argv` (found on PATH) in `directory`, its output in files there; kills it past `timeout` seconds.
    static func run(_ argv: [String], directory: String, timeout: Double) throws(PPError) -> Output {
        let base = "\(directory)/.cmd-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let outPath = base + ".out"
        let errPath = base + ".err"
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        var plan = SpawnPlan(
            executable: argv[0], arguments: argv,
            descriptors: [
                .open("/dev/null", flags: O_RDONLY, to: 0),
                .open(outPath, flags: O_WRONLY | O_CREAT | O_TRUNC, to: 1),
                .open(errPath, flags: O_WRONLY | O_CREAT | O_TRUNC, to: 2),
            ])
        plan.searchPath = true
        let child: ChildProcess
        do {
            child = try plan.spawn()
        } catch {
            if error == .noSuchFileOrDirectory {
                throw PPError(.noEngine, "\(argv[0]) is not on PATH: -e slurm needs the Slurm client commands here")
            }
            throw PPError(.noEngine, "cannot run \(argv[0]): \(error)")
        }
        let deadline = SystemTime.monotonicNanoseconds() + Int64(timeout * 1e9)
        while !child.hasExited {
            if SystemTime.monotonicNanoseconds() > deadline {
                child.sendToGroup(signal: SIGKILL)
                child.wait()
                throw PPError(
                    .noEngine,
                    "\(argv[0]) did not answer within \(formatSeconds(timeout)) s: is the Slurm controller reachable (scontrol ping)?")
            }
            usleep(5_000)
        }
        let status = child.wait()
        func read(_ p: String) -> String {
            (try? String(contentsOfFile: p, encoding: .utf8)) ?? ""
        }
        return Output(status: status, stdout: read(outPath), stderr: read(errPath))
    }
}
