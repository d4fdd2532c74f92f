// The recipe as shell tasks (issue 17.6): `sleep 0.1; echo $(({}*{}))` over 0..99 on 4 engines, ideal 2.5 s, in
// 3 runs of 3, each run's best and median beside the goal; and the same through the `ppdash run` command line, where
// GNU parallel and xargs -P4 stand beside it (bench/compare).
import Foundation
import Glibc
import PPKit
import PPSystem

enum RecipeShellBench {
    static let template = "sleep 0.1; echo $(({}*{}))"
    static let expected = Set((0..<100).map { "\($0 * $0)" })

    /// Walls of `runs` x `each` batches through the API on 4 fresh in-process engines (warmed by 1000 no-ops), every
    /// batch's printed values checked.
    static func api(runs: Int, each: Int) throws -> [[Double]] {
        try withEngines(.local(count: 4)) { view in
            let sweep = Sweep(template: try Template(template), groups: [ArgGroup((0..<100).map(String.init))])
            var out = [[Double]]()
            for _ in 0..<runs {
                var walls = [Double]()
                for _ in 0..<each {
                    let t0 = seconds()
                    let results = try view.submit(sweep).get()
                    walls.append(seconds() - t0)
                    guard results.map(\.stdout) == (0..<100).map({ "\($0 * $0)\n" }) else {
                        throw BenchError("the shell recipe printed wrong values")
                    }
                }
                out.append(walls)
            }
            return out
        }
    }

    /// Walls of `runs` x `each` runs of `ppdash run -j 4 -- TEMPLATE ::: 0..99` (the binary beside this one, its
    /// journal on as a user has it, output to a file that is checked), from spawn to exit.
    static func commandLine(runs: Int, each: Int) throws -> [[Double]] {
        let ppdash = try ppdashBeside()
        let dir = try JournalBench.temporaryDirectory("recipe")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var out = [[Double]]()
        for _ in 0..<runs {
            var walls = [Double]()
            for _ in 0..<each {
                let file = dir + "/out"
                let (wall, status) = try JournalBench.timed(ppdash, ["run", "-j", "4", "--", template, ":::", "0..99"], stdout: file, stateHome: dir)
                guard status == 0 else { throw BenchError("ppdash run (the shell recipe) exited \(status)") }
                let printed = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
                guard Set(printed.split(separator: "\n").map(String.init)) == expected else {
                    throw BenchError("ppdash run (the shell recipe) printed wrong values")
                }
                walls.append(wall)
            }
            out.append(walls)
        }
        return out
    }


    /// "2.531/2.540, ..." : each run's best and median, seconds.
    static func describe(_ runs: [[Double]]) -> String {
        runs.map { String(format: "%.3f/%.3f", $0.min() ?? .nan, median($0)) }.joined(separator: ", ")
    }

    /// The worst run's median: the goal is met when every run's median is.
    static func worstMedian(_ runs: [[Double]]) -> Double { runs.map(median).max() ?? .nan }

    /// The rows, added through `add`.
    static func figures(quick q: Bool, add: (Figure) -> Void) throws {
        let runs = q ? 1 : 3
        let api = try api(runs: runs, each: 3)
        add(
            Figure(
                key: "recipe_shell_s", name: "the recipe as shell tasks (sleep 0.1; echo $((x*x))), 4 in-process engines",
                unit: .seconds, value: worstMedian(api), goal: .atMost(2.60),
                note: "\(runs) run\(runs == 1 ? "" : "s") of 3 through the API, each run's best/median: \(describe(api)) s; "
                    + "the figure is the worst median; ideal 2.5 s"))
        let cli = try commandLine(runs: runs, each: 3)
        add(
            Figure(
                key: "recipe_shell_cli_s", name: "  the same as `ppdash run -j 4 -- '\(template)' ::: 0..99`",
                unit: .seconds, value: worstMedian(cli),
                note: "\(runs) run\(runs == 1 ? "" : "s") of 3, spawn to exit (start-up and journal included), best/median: "
                    + "\(describe(cli)) s; the worst median"))
    }
}
