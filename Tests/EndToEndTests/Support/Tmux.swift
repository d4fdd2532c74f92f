// A private tmux server per test: a real terminal the dashboard draws on, read back with capture-pane.
import Foundation
import Synchronization

import Glibc

/// One tmux server (own socket), one session, one pane running `command` through `sh -c`.
/// Always `kill()` it in a `defer`.
final class Tmux: Sendable {
    /// tmux is on PATH (the dashboard tests skip, saying so, when it is not).
    static let available: Bool = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").contains { access("\($0)/tmux", X_OK) == 0 }
    }()

    private static let counter = Atomic<Int>(0)

    let socket: String
    let session = "e2e"
    /// The terminal type panes see.
    static let term: String = {
        for t in ["tmux-256color", "screen-256color"] {
            for dir in ["/usr/share/terminfo", "/lib/terminfo", "/etc/terminfo", "/usr/lib/terminfo"] {
                if FileManager.default.fileExists(atPath: "\(dir)/\(t.first!)/\(t)") { return t }
            }
        }
        return "screen-256color"
    }()

    private init(socket: String) { self.socket = socket }

    /// Starts a server with a `width` x `height` window (no status line, so the pane is the whole window)
    /// whose pane runs `command`; the pane stays after its process ends, so its exit status can be read.
    static func start(_ command: String, width: Int, height: Int, env: [String: String?] = [:]) async -> (Tmux, RunResult) {
        let n = counter.add(1, ordering: .relaxed).newValue
        let t = Tmux(socket: "ppdash-e2e-\(getpid())-\(n)-\(UInt32.random(in: 0...UInt32.max))")
        let r = await t.tmux(
            ["start-server", ";",
             "set-option", "-g", "default-terminal", term, ";",
             "set-option", "-g", "remain-on-exit", "on", ";",
             "set-option", "-g", "status", "off", ";",
             "set-option", "-g", "escape-time", "0", ";",
             "new-session", "-d", "-s", t.session, "-x", "\(width)", "-y", "\(height)", command],
            env: env)
        return (t, r)
    }

    private static let serverEnvironment: [String: String?] = [
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "SHELL": "/bin/sh",
        "SWIFT_BACKTRACE": "interactive=no", "TMUX": nil, "TMUX_PANE": nil,
    ]

    /// Runs `tmux -L socket args...`.
    @discardableResult
    func tmux(_ args: [String], env: [String: String?] = [:]) async -> RunResult {
        await run(["tmux", "-u", "-L", socket, "-f", "/dev/null"] + args,
                  env: Tmux.serverEnvironment.merging(env) { $1 }, timeout: 10)
    }

    /// Sends key names (`Enter`, `Escape`, `C-c`, `Up`, `q`, ...).
    func sendKeys(_ keys: String...) async {
        await tmux(["send-keys", "-t", session] + keys)
    }

    /// Types `text` literally.
    func type(_ text: String) async {
        await tmux(["send-keys", "-t", session, "-l", text])
    }

    /// The visible screen, one string per row (trailing blanks trimmed by tmux).
    func capture() async -> [String] {
        let r = await tmux(["capture-pane", "-p", "-t", session])
        return splitLines(r.out)
    }

    /// `capture()` as one text, for messages.
    func screen() async -> String { await capture().joined(separator: "\n") }

    func resize(_ width: Int, _ height: Int) async {
        await tmux(["resize-window", "-t", session, "-x", "\(width)", "-y", "\(height)"])
    }

    /// A tmux format (`#{pane_pid}`...) evaluated for the pane.
    func display(_ format: String) async -> String {
        await tmux(["display-message", "-p", "-t", session, format]).out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether the pane's process has ended, and how (exit status or signal) once tmux has reaped it.
    func paneState() async -> (dead: Bool, status: Int?, signal: Int?) {
        let f = (await display("#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}")).split(separator: ":", omittingEmptySubsequences: false)
        return (f.first == "1", f.count > 1 ? Int(f[1]) : nil, f.count > 2 ? Int(f[2]) : nil)
    }

    /// Polls the screen every 100 ms until `predicate` holds; returns the last capture and whether it held.
    func waitUntil(timeout: Double = 10, _ predicate: ([String]) -> Bool) async -> (ok: Bool, screen: [String]) {
        let end = now() + timeout
        while true {
            let s = await capture()
            if predicate(s) { return (true, s) }
            if now() > end { return (false, s) }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Waits until `text` is on screen.
    func waitFor(_ text: String, timeout: Double = 10) async -> (ok: Bool, screen: [String]) {
        await waitUntil(timeout: timeout) { $0.contains { $0.contains(text) } }
    }

    /// Waits for the pane's process to end; its exit status (-signal when a signal ended it), or nil on timeout.
    /// tmux marks the pane dead when the pty closes and learns the status a moment later, so wait for that too.
    func waitForExit(timeout: Double = 10) async -> Int? {
        let end = now() + timeout
        while now() < end {
            let s = await paneState()
            if s.dead, let st = s.status { return st }
            if s.dead, let sig = s.signal { return -sig }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }

    /// Ends the server and everything in it, and removes its socket (kill-server leaves it). Synchronous, for `defer`.
    func kill() {
        _ = runBlocking(["tmux", "-L", socket, "-f", "/dev/null", "kill-server"], env: Tmux.serverEnvironment, timeout: 5)
        let dir = ProcessInfo.processInfo.environment["TMUX_TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        unlink("\(dir)/tmux-\(getuid())/\(socket)")
    }
}

/// The screen as text, for failure messages.
func show(_ screen: [String]) -> String {
    var lines = screen
    while lines.last?.trimmingCharacters(in: .whitespaces).isEmpty == true { lines.removeLast() }
    return "\n" + lines.joined(separator: "\n")
}
