import Foundation

extension Bench {
    /// Issue 13's rows: memory bounded by what runs, engine deaths, a full disk, --halt now, SIGKILL then resume,
    /// idle viewers. Each goal is the issue's.
    func faultFigures(add: (Figure) -> Void) throws {
        let q = quick
        let tasks = q ? 1_000 : 100_000
        let (peak, seconds) = try FaultBench.outputMemory(count: tasks)
        add(
            Figure(
                key: "output_memory_peak_bytes",
                name: "peak RSS, \(grouped(Double(tasks))) tasks each writing 64 KiB to stdout and 64 KiB to stderr",
                unit: .bytes, value: peak, goal: .atMost(200_000_000),
                note: "`ppdash run -j 2 --no-journal -- 'head -c 65536 /dev/zero; head -c 65536 /dev/zero >&2; : {}' "
                    + "::: 1..\(tasks)` > /dev/null, VmHWM; \(String(format: "%.0f", seconds)) s"))
        add(
            Figure(
                key: "range_start_peak_bytes", name: "peak RSS in the first 3 s of `::: 1..10000000`", unit: .bytes,
                value: try FaultBench.rangeStartMemory(seconds: 3), goal: .atMost(50_000_000),
                note: "`ppdash run -j 2 -- 'sleep 0.01; : {}' ::: 1..10000000`, VmHWM, then SIGTERM"))
        add(
            Figure(
                key: "killed_worker_side_effects", name: "a proc worker killed mid-task, --retries 1: side effects",
                unit: .count, value: try FaultBench.killedWorkerSideEffects(), goal: .atMost(1),
                note: "the task kills its worker on its first attempt; the side effect must happen exactly once"))
        let (deathSeconds, deathCode) = try FaultBench.allEnginesKilled()
        add(
            Figure(
                key: "all_engines_killed_exit_s", name: "every proc engine killed: seconds to exit (status \(deathCode))",
                unit: .seconds, value: deathCode == 4 ? deathSeconds : 1e9, goal: .atMost(5),
                note: "proc:2 running `sleep 30` over 4 tasks, both workers SIGKILLed; goal: a failure exit within the "
                    + "heartbeat limit (5 missed x 1 s), the status GNU parallel's: 4 tasks failed; 1e9 when it is not 4"))
        let disk = try FaultBench.fullDisk(count: q ? 1_000 : 5_000)
        add(
            Figure(
                key: "full_disk_rerun_ok", name: "a full disk (ulimit -f): ok tasks resume ran again (run exit \(disk.code))",
                unit: .count, value: disk.code == 0 || disk.okAfter != (q ? 1_000 : 5_000) ? 1e9 : disk.rerunOK, goal: .atMost(0),
                note: "the journal's file size limit at half a whole run's journal: \(disk.okBefore) of \(q ? 1_000 : 5_000) ok "
                    + "before, \(disk.okAfter) after the resume; 1e9 when the run exited 0 or the resume left a task not ok"))
        let haltTasks = q ? 2_000 : 50_000
        add(
            Figure(
                key: "halt_now_failed", name: "--halt now over \(grouped(Double(haltTasks))) failing tasks, journal on: failed",
                unit: .count, value: try FaultBench.haltNow(count: haltTasks), goal: .atMost(2),
                note: "`ppdash run -j 2 --halt now --journal J -- 'false {}'`; at most the 2 engines' tasks"))
        let killTasks = q ? 500 : 50_000
        let (wrong, resumeSeconds) = try FaultBench.killThenResume(count: killTasks)
        add(
            Figure(
                key: "sigkill_resume_wrong", name: "SIGKILL 0.25 s into \(grouped(Double(killTasks))) tasks, resume: tasks run other than once",
                unit: .count, value: wrong, goal: .atMost(0),
                note: "SIGKILL 0.25 s after the first task started; a side-effect file counts each task; resume --kill-orphans took \(String(format: "%.0f", resumeSeconds)) s"))
        add(
            Figure(
                key: "idle_viewers_attach_live", name: "17 idle viewers, then a real attach sees the live batch (1 = yes)",
                unit: .count, value: try FaultBench.idleViewersThenAttach(), goal: .atLeast(1)))
    }
}
