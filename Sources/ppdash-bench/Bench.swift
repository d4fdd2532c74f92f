import ArgumentParser
import Foundation
import PPKit

/// Figures for ppdash's engines: no-op throughput and one-task round trip, per engine kind.
///
/// `swift run -c release ppdash-bench --quick`. `proc` workers are the `ppdash` binary built beside this one.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ppdash-bench",
        abstract: "Measure ppdash engines: no-op tasks/s and one-task round trip (p50/p99).")

    @Flag(help: "Fewer tasks and rounds: a run of a few seconds.")
    var quick = false

    @Option(help: "Engines of each kind.")
    var engines = 4

    @Option(help: "Engine kinds to measure, comma-separated: local, proc.")
    var kinds = "local,proc"

    func validate() throws {
        guard engines >= 1 else { throw ValidationError("--engines must be at least 1") }
    }

    func run() throws {
        let noops = quick ? 100_000 : 1_000_000
        let rounds = quick ? 2_000 : 20_000
        print(
            "kind   engines  no-op tasks/s  round trip p50   p99   (\(noops) no-ops in one batch; \(rounds) single tasks)"
        )
        for kind in kinds.split(separator: ",").map(String.init) {
            let spec: EngineSpec
            switch kind {
            case "local": spec = .local(count: engines)
            case "proc": spec = .proc(count: engines)
            default: throw ValidationError("unknown kind '\(kind)': use local or proc")
            }
            // Each figure on fresh engines and a fresh scheduler, warmed up by 1000 no-ops.
            let seconds = try measure(spec) { view in
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try view.submit(builtins: Array(repeating: .noop, count: noops)).wait()
                return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            }
            var trips = try measure(spec) { view in
                var trips = [Double]()
                trips.reserveCapacity(rounds)
                for _ in 0..<rounds {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    _ = try view.submit(builtins: [.noop]).wait()
                    trips.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e3)
                }
                return trips
            }
            trips.sort()
            let p50 = trips[trips.count / 2]
            let p99 = trips[min(trips.count - 1, trips.count * 99 / 100)]
            print(
                kind.padding(toLength: 7, withPad: " ", startingAt: 0)
                    + String(format: "%7d  %13.0f  %11.1f us  %6.1f us", engines, Double(noops) / seconds, p50, p99))
        }
    }

    /// Runs `body` on a load-balanced view of fresh `spec` engines, then stops them.
    func measure<T>(_ spec: EngineSpec, _ body: (View) throws -> T) throws -> T {
        let client = try makeClient(spec)
        defer { client.shutdown() }
        let view = client.loadBalancedView()
        _ = try view.submit(builtins: Array(repeating: .noop, count: 1000)).get()
        return try body(view)
    }

    /// A client on `spec`'s engines; `proc` workers run the `ppdash` beside this binary.
    func makeClient(_ spec: EngineSpec) throws -> Client {
        var options = EngineLaunchOptions()
        if case .proc = spec {
            let me =
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments[0]
            let ppdash = URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("ppdash").path
            guard FileManager.default.isExecutableFile(atPath: ppdash) else {
                throw ValidationError(
                    "no ppdash beside \(me): build it first (swift build -c release --product ppdash)")
            }
            options.workerExecutable = ppdash
        }
        return try EngineLauncher(specs: [spec], scheduler: Scheduler(), options: options).makeClient()
    }
}
