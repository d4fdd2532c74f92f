// The first half of every kill-then-resume test (JournalE2ETests, ResumeRangeE2ETests): a `ppdash run` with a
// journal, killed with SIGKILL at a chosen moment, so that a resume has an interrupted run to take up.
import Foundation
import Testing

import Glibc

/// Starts `ppdash run ARGS` (its `--journal` among them) in `directory` (nil: here; `timeout`: its own bound), kills
/// it with SIGKILL as soon as `ready()` holds (tested every `every` seconds for at most `within` seconds; killed then
/// anyway) and reaps it. Returns whether `ready()` held before the kill, and what the run left; nil, with an issue
/// recorded, when ppdash is not built.
func runKilled(
    _ args: [String], directory: String? = nil, timeout: Double = 30, within: Double = 20, every: Double = 0.05,
    when ready: () -> Bool
) async -> (ready: Bool, result: RunResult)? {
    guard let child = PPDash.start(["run"] + args, directory: directory, timeout: timeout) else {
        Issue.record(Comment(rawValue: PPDash.notFound))
        return nil
    }
    let end = now() + within
    var held = ready()
    while !held && now() <= end {
        try? await Task.sleep(for: .seconds(every))
        held = ready()
    }
    child.signal(SIGKILL)
    return (held, await child.wait())
}
