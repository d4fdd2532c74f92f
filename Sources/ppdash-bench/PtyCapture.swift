import PPSystem

/// The real `ppdash` on a pty at 100x30: what it writes to the terminal, byte by byte, with the time it came.
enum PtyCapture {
    /// What came out of the pty master: (seconds since the spawn, bytes) per read.
    struct Capture {
        var reads: [(at: Double, bytes: Int)]

        /// Bytes that came in [from, to) seconds.
        func bytes(from: Double, to: Double) -> Int {
            reads.filter { $0.at >= from && $0.at < to }.reduce(0) { $0 + $1.bytes }
        }
    }

    /// Runs `ppdash ARGS` on a new pty of `rows` x `cols` (TERM=xterm-256color, a UTF-8 locale) for `seconds`, then
    /// SIGTERM (the dashboard restores the terminal and stops); returns every read from the master.
    static func run(
        ppdash: String, args: [String], rows: Int, cols: Int, seconds wanted: Double, environment: [String: String] = [:]
    ) throws -> Capture {
        do throws(Errno) {
            let pty = try PseudoTerminal(rows: rows, cols: cols)
            // A new session: opening the slave makes it the controlling terminal, as a terminal emulator does.
            var plan = SpawnPlan(
                executable: ppdash, arguments: [ppdash] + args, descriptors: pty.childDescriptors, grouping: .newSession
            )
            plan.environment = ["TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"]
            plan.environment.merge(environment) { $1 }
            plan.removedVariables = ["NO_COLOR", "LINES", "COLUMNS"]
            let t0 = seconds()
            let child = try plan.spawn()
            var reads = [(at: Double, bytes: Int)]()
            // Reads end with EIO once every slave descriptor is closed (ppdash and its children are gone).
            _ = child.watch(
                pipes: [pty.master.raw], deadline: Int64((t0 + wanted) * 1e9),
                grace: Int64(Timings.dashboardExit * 1e9), now: SystemTime.monotonicNanoseconds
            ) { _, bytes in reads.append((seconds() - t0, bytes.count)) }
            pty.close()
            child.wait()
            return Capture(reads: reads)
        } catch {
            throw BenchError("cannot start ppdash on a pty: \(SystemFacts.errorText(error.rawValue))")
        }
    }
}
