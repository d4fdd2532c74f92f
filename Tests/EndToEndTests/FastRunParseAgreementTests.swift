// `ppdash run`'s direct parse (PPDashCommand.parseRunDirectly) against the library's parse from the root, over a
// table of argument vectors: where the direct parse answers, its value is the root's; everywhere else it defers.
import ArgumentParser
import Foundation
import Testing

@testable import ppdash

private struct NormalisationRefused: Error {}

@Suite("fast run parse agrees with the library", .serialized)
struct FastRunParseAgreementTests {
    /// Everything a parsed command holds, as text (every option group, flag and word, recursively).
    static func contents(_ command: Any) -> String {
        var text = ""
        dump(command, to: &text, maxDepth: 64)
        return text
    }

    /// Both parses of `argv` (a command line after the program name), after the same GNU normalisation `main` does.
    static func parses(_ argv: [String]) -> (direct: RunCommand?, root: Result<any ParsableCommand, any Error>) {
        guard let (parsed, _) = try? GNUArgv.normalizeSplit(argv) else {
            return (nil, .failure(NormalisationRefused()))
        }
        return (PPDashCommand.parseRunDirectly(parsed), Result { try PPDashCommand.parseAsRoot(parsed) })
    }

    /// Forms the direct parse must take (what `run` is used for).
    static let common: [[String]] = [
        ["run", "--", "true", ":::", "1"],
        ["run", "true", ":::", "1"],
        ["run", "-j", "4", "echo", "{}", ":::", "a", "b", "c"],
        ["run", "-j4", "--", "echo", "{}", ":::", "1", "2"],
        ["run", "--no-journal", "-k", "--", "echo", "{}", ":::", "x"],
        ["run", "-e", "proc:4", "--", "echo", "{} {#}", ":::", "1..10"],
        ["run", "-e", "local:2", "--tag", "echo", ":::", "a", ":::", "b"],
        ["run", "-0", "echo"],
        ["run", "--halt", "soon,fail=1", "false", ":::", "1", "2"],
        ["run", "--timeout", "5", "sleep", "{}", ":::", "1"],
        ["run", "--", "echo", "--help"],
        ["run", "--", "echo", "--version"],
        ["run", "echo", "-j", "3", ":::", "1"],
        ["run", "--retries", "2", "--", "sh", "-c", "exit {}", ":::", "0", "1"],
    ]

    /// Forms that must defer (the library answers them in the root's voice, or they are another command).
    static let deferred: [[String]] = [
        ["run"], ["run", "--help"], ["run", "-h"], ["run", "--version"], ["run", "help"], ["run", "--bogus", "true"],
        ["run", "-j"], ["run", "-j", "x", "true"], ["run", "-j", "-1", "true"], ["run", "-j", "nan", "true"],
        ["run", "-n", "3", "true"], ["run", "--timeout", "inf", "true"], ["run", "--timeout", "-1", "true"],
        ["help", "run"], ["run", "--halt", "bogus", "true"], ["-n", "4"], ["ls"], ["dashboard"], ["demo"],
        ["engine", "--stdio"], ["--version"], [],
    ]

    /// One form's two parses, as text: what the direct parse made (nil: it deferred), the run the root's parse made
    /// (nil: it made no run) and the root's answer (for messages).
    struct Parsed: Sendable {
        let argv: [String]
        let direct: String?
        let rootRun: String?
        let root: String
    }

    /// Every form of the table parsed both ways once, for both tests below. (In a debug build every parse runs
    /// ArgumentParser's check of the whole command tree, a tenth of a second or more: the tests used to parse each
    /// form two or three times, 23 s in all.)
    static let table: [Parsed] = (common + deferred).map { argv in
        let (direct, root) = parses(argv)
        var rootRun: String? = nil
        if case .success(let command) = root, let run = command as? RunCommand { rootRun = contents(run) }
        return Parsed(argv: argv, direct: direct.map { contents($0) }, rootRun: rootRun, root: "\(root)")
    }

    @Test("every form of the table: a direct answer is the root's answer, and the common forms get one")
    func agreement() {
        for p in Self.table {
            guard let direct = p.direct else { continue }
            guard let rootRun = p.rootRun else {
                Issue.record("\(p.argv): the direct parse answered where the root's parse did not give a run: \(p.root)")
                continue
            }
            #expect(direct == rootRun, "\(p.argv)")
        }
        for p in Self.table.prefix(Self.common.count) {
            #expect(p.direct != nil, "\(p.argv) should take the direct parse")
        }
    }

    @Test("a form the root refuses or answers itself is never taken directly")
    func deferral() {
        for p in Self.table.suffix(Self.deferred.count) {
            if p.rootRun != nil { continue }
            #expect(p.direct == nil, "\(p.argv): the direct parse answered, the root's parse gave \(p.root)")
        }
    }

    @Test("the comparison sees a difference (it is not blind)")
    func comparisonIsSensitive() throws {
        let a = try #require(Self.parses(["run", "-j", "2", "echo", ":::", "1"]).direct)
        let b = try #require(Self.parses(["run", "-j", "3", "echo", ":::", "1"]).direct)
        let c = try #require(Self.parses(["run", "-j", "2", "printf", ":::", "1"]).direct)
        #expect(Self.contents(a) != Self.contents(b))
        #expect(Self.contents(a) != Self.contents(c))
    }
}
