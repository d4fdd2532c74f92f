// `ppdash run`'s direct parse (PPDashCommand.parseRunDirectly) against the library's parse from the root, over a
// table of argument vectors: where the direct parse answers, its value is the root's; everywhere else it defers.
import ArgumentParser
import Foundation
import Testing

@testable import ppdash

private struct NormalisationRefused: Error {}

@Suite("fast run parse agrees with the library")
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

    @Test("every form of the table: a direct answer is the root's answer, and the common forms get one")
    func agreement() {
        for argv in Self.common + Self.deferred {
            let (direct, root) = Self.parses(argv)
            guard let direct else { continue }
            guard case .success(let command) = root, let rootRun = command as? RunCommand else {
                Issue.record("\(argv): the direct parse answered where the root's parse did not give a run: \(root)")
                continue
            }
            #expect(Self.contents(direct) == Self.contents(rootRun), "\(argv)")
        }
        for argv in Self.common {
            #expect(Self.parses(argv).direct != nil, "\(argv) should take the direct parse")
        }
    }

    @Test("a form the root refuses or answers itself is never taken directly")
    func deferral() {
        for argv in Self.deferred {
            let (direct, root) = Self.parses(argv)
            if case .success(let command) = root, command is RunCommand { continue }
            #expect(direct == nil, "\(argv): the direct parse answered, the root's parse gave \(root)")
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
