import PPSystem
import Glibc

/// The real `ppdash` on a pty at 100x30, driven as a terminal drives it: what it writes, byte by byte, with the time it came.
enum PtyCapture {}

extension PtyCapture {
    /// What came out of the pty, as bytes with their time, plus when each key went in.
    struct Session {
        var reads: [(at: Double, bytes: [UInt8])]
        var keysAt: [Double]

        func bytes(from: Double, to: Double) -> Int {
            reads.filter { $0.at >= from && $0.at < to }.reduce(0) { $0 + $1.bytes.count }
        }

        /// Seconds from `after` until `needle` had been read in full (it may span reads); nil if it never came.
        func firstSeen(_ needle: [UInt8], after: Double) -> Double? {
            var tail: [UInt8] = []
            for r in reads where r.at >= after {
                let window = tail + r.bytes
                if window.count >= needle.count {
                    for i in 0...(window.count - needle.count) where window[i] == needle[0] {
                        if Array(window[i..<i + needle.count]) == needle { return r.at - after }
                    }
                }
                tail = Array(window.suffix(needle.count - 1))
            }
            return nil
        }
    }

    /// Runs `ppdash ARGS` on a pty as `run` does, but as a terminal would drive it: `keys` are typed at their times,
    /// status requests (`ESC [ 5 n`) are answered `ESC [ 0 n` once read, and with `bytesPerSecond` the master is read
    /// no faster than that (a slow link: what is not read waits in the pty). `environment` is added to the child's.
    static func interactive(
        ppdash: String, args: [String], rows: Int, cols: Int, seconds wanted: Double,
        keys: [(at: Double, bytes: [UInt8])] = [], bytesPerSecond: Int? = nil, environment: [String: String] = [:]
    ) throws -> Session {
        do throws(Errno) {
            let pty = try PseudoTerminal(rows: rows, cols: cols)
            var plan = SpawnPlan(
                executable: ppdash, arguments: [ppdash] + args, descriptors: pty.childDescriptors, grouping: .newSession
            )
            plan.environment = ["TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"]
            plan.environment.merge(environment) { $1 }
            plan.removedVariables = ["NO_COLOR", "LINES", "COLUMNS"]
            let t0 = seconds()
            let child = try plan.spawn()
            let fd = pty.master.raw
            var session = Session(reads: [], keysAt: [])
            var pending = keys.sorted { $0.at < $1.at }
            var allowance = 0.0
            var last = t0
            var scan: [UInt8] = []
            let request: [UInt8] = [0x1B, 0x5B, 0x35, 0x6E]
            var buffer = [UInt8](repeating: 0, count: 65536)
            var ended = false
            while !ended {
                let now = seconds()
                if now - t0 >= wanted { break }
                while let k = pending.first, now - t0 >= k.at {
                    pending.removeFirst()
                    _ = k.bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                    session.keysAt.append(now - t0)
                }
                var limit = buffer.count
                if let rate = bytesPerSecond {
                    allowance = min(Double(rate) / 10, allowance + Double(rate) * (now - last))
                    limit = Int(allowance)
                }
                last = now
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let wait: Int32 = limit < 1 ? 5 : 20
                if limit < 1 {
                    _ = poll(nil, 0, wait)
                    continue
                }
                guard poll(&p, 1, wait) > 0 else { continue }
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, min(limit, $0.count)) }
                if n <= 0 {
                    ended = true
                    break
                }
                allowance -= Double(n)
                let got = Array(buffer[0..<n])
                session.reads.append((seconds() - t0, got))
                // Answer status requests, as a terminal does once it has taken in what came before.
                scan.append(contentsOf: got)
                var i = 0
                while i + request.count <= scan.count {
                    if Array(scan[i..<i + request.count]) == request {
                        let answer: [UInt8] = [0x1B, 0x5B, 0x30, 0x6E]
                        _ = answer.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                        i += request.count
                    } else {
                        i += 1
                    }
                }
                scan = Array(scan.suffix(request.count - 1))
            }
            child.send(signal: SIGTERM)
            // Drain until the slave side closes, so the dashboard can restore the terminal and exit.
            let end = seconds() + Timings.dashboardExit
            while seconds() < end {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 100) > 0 else { if child.hasExited { break } else { continue } }
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
            }
            pty.close()
            if !child.hasExited { child.send(signal: SIGKILL) }
            child.wait()
            return session
        } catch {
            throw BenchError("cannot start ppdash on a pty: \(SystemFacts.errorText(error.rawValue))")
        }
    }
}
