import Foundation
import PPKit

/// The floor for `/bin/true` tasks: a C loop keeping K posix_spawn'd children in flight, compiled at run time.
struct SpawnLoop {
    let binary: String

    static let source = #"""
        // K children of /bin/true in flight, N in all: posix_spawn + wait, no pipes. Prints tasks per second.
        #include <spawn.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <sys/wait.h>
        #include <time.h>
        extern char **environ;
        int main(int argc, char **argv) {
            int n = argc > 1 ? atoi(argv[1]) : 1000, k = argc > 2 ? atoi(argv[2]) : 4, started = 0, done = 0;
            char *args[] = {"/bin/true", NULL};
            struct timespec a, b;
            clock_gettime(CLOCK_MONOTONIC, &a);
            while (done < n) {
                while (started < n && started - done < k) {
                    pid_t pid;
                    if (posix_spawn(&pid, "/bin/true", NULL, NULL, args, environ) != 0) { perror("posix_spawn"); return 1; }
                    started++;
                }
                int status;
                if (wait(&status) < 0) { perror("wait"); return 1; }
                done++;
            }
            clock_gettime(CLOCK_MONOTONIC, &b);
            printf("%.1f\n", n / ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9));
            return 0;
        }
        """#

    /// Compiles the loop with the first C compiler on PATH (cc, clang, gcc) into a temporary folder.
    static func build() throws -> SpawnLoop {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ppdash-bench-spawnloop-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let src = dir.appendingPathComponent("spawnloop.c")
        try source.write(to: src, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("spawnloop").path
        for cc in ["cc", "clang", "gcc"] {
            if (try? run("/usr/bin/env", [cc, "-O2", "-o", out, src.path])) != nil { return SpawnLoop(binary: out) }
        }
        throw BenchError("no C compiler (cc, clang, gcc) on PATH to build the posix_spawn loop")
    }

    /// Tasks per second for `count` children, 4 in flight.
    func rate(count: Int) throws -> Double {
        let text = try Self.run(binary, [String(count), "4"])
        guard let v = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw BenchError("the spawn loop printed '\(text)'")
        }
        return v
    }

    /// Removes the temporary folder.
    func remove() {
        try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: binary).deletingLastPathComponent().path)
    }

    /// Runs a program through PPKit's task runner, returns its stdout; throws when it fails.
    static func run(_ path: String, _ args: [String]) throws -> String {
        let o = ShellRunner.run(([path] + args).map(Template.quote).joined(separator: " "))
        guard o.succeeded else { throw BenchError("\(path) \(args.joined(separator: " ")) failed: \(o.stderr.text)") }
        return o.stdout.text
    }
}
