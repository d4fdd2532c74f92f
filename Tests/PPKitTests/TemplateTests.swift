import PPKit
import PPSystem
import Testing

@Suite struct TemplateTests {
    static let hostile: [String] = [
        "a; rm -rf ~", "$(id)", "`id`", "'", "\"", "it's \"quoted\"", "a\nb", "\n", "\n\n", "", " ", "  two  spaces ",
        "\t", "*", "?", "~", "~root", "{}", "{1}", "a=b", "!", "!!", "#x", "x#", "\\", "\\n", "\\\\'", "日本語 ファイル.txt",
        "émoji 🎉", "-n", "--", "%s", "a\u{01}b", "\u{7f}", "\r", "$HOME", "${HOME}", "a|b&c>d<e", "(x)", "[a]", "^",
        ";;",
        "&&", "a'b'c", "'\"'\"'", "5", "-e \\t",
    ]

    @Test func quotingMatchesGNUParallel() {
        // Each checked against `parallel --dry-run echo {} ::: VALUE` (GNU parallel 20221122).
        #expect(Template.quote("5") == "5")
        #expect(Template.quote("x-_.+/Z9") == "x-_.+/Z9")
        #expect(Template.quote("a b") == "'a b'")
        #expect(Template.quote("a; rm -rf ~") == "'a; rm -rf ~'")
        #expect(Template.quote("") == "''")
        #expect(Template.quote("a\nb") == "'a\nb'")
        #expect(Template.quote("$(id)") == "'$(id)'")
        #expect(Template.quote("a\\b") == "'a\\b'")
        #expect(Template.quote("it's") == "'it'\"'\"'s'")
        #expect(Template.quote("'") == "\"'\"")
        #expect(Template.quote("''") == "\"'\"''\"'\"")
        #expect(Template.quote("a'") == "'a'\"'\"")
        #expect(Template.quote("'a") == "\"'\"'a'")
        for c in ["~", "*", "=", ",", ":", "@", "%"] { #expect(Template.quote(c) == "'" + c + "'", "\(c)") }
        #expect(Template.quote("dir/file-1.2_x+y,z:w@h%") == "'dir/file-1.2_x+y,z:w@h%'")
        #expect(Template.quote("日本") == "'日本'")
        // A byte that is not UTF-8 (ByteText's reserved code point) is quoted and kept.
        let cafe = ByteText.decode([0x63, 0x61, 0x66, 0xE9])
        #expect(ByteText.bytes(of: Template.quote(cafe)) == [39, 0x63, 0x61, 0x66, 0xE9, 39])
    }

    @Test func olderJournalsCommandsStillMatch() throws {
        // ppdash quoted with backslashes before it quoted as GNU parallel: a journal it wrote resumes unchanged.
        let task = ShellTask(template: try Template("echo {} {#}"), args: ["a b", "it's"], seq: 3)
        #expect(task.displayCommand == "echo 'a b' 'it'\"'\"'s' 3")
        #expect(task.matches(recorded: "echo 'a b' 'it'\"'\"'s' 3"))
        let old = ShellTask(template: try Template("echo {}"), args: ["a b\nc$"], seq: 1)
        #expect(old.matches(recorded: "echo a\\ b'\n'c\\$"))
        #expect(!old.matches(recorded: "echo a b"))
    }

    @Test(arguments: hostile) func hostileArgumentSurvivesTheShell(arg: String) throws {
        let t = try Template("printf %s {}")
        let cmd = t.expand(args: [arg], seq: 1, slot: 1)
        let viaSh = ShellRunner.run(cmd)
        #expect(viaSh.exitStatus == 0)
        #expect(viaSh.stdout.text == arg)
        // The same command through bash, itself quoted once more.
        let viaBash = ShellRunner.run("bash -c " + Template.quote(cmd))
        #expect(viaBash.exitStatus == 0)
        #expect(viaBash.stdout.text == arg)
    }

    @Test func hostileArgumentsAsSeparateWords() throws {
        let t = try Template("printf '<%s>' {1} {2}")
        let cmd = t.expand(args: ["a b", "$(id)"], seq: 1, slot: 1)
        #expect(ShellRunner.run(cmd).stdout.text == "<a b><$(id)>")
        // `{}` with two groups: both args, each quoted.
        let all = try Template("printf '<%s>' {}").expand(args: ["x y", ""], seq: 1, slot: 1)
        #expect(ShellRunner.run(all).stdout.text == "<x y><>")
    }

    @Test func replacementStrings() throws {
        func x(_ text: String, _ args: [String], seq: Int = 7, slot: Int = 3) throws -> String {
            try Template(text).expand(args: args, seq: seq, slot: slot)
        }
        #expect(try x("echo {}", ["a"]) == "echo a")
        #expect(try x("echo {}", ["a", "b c"]) == "echo a 'b c'")
        #expect(try x("echo {2} {1}", ["a", "b"]) == "echo b a")
        #expect(try x("echo {#} {%}", ["a"]) == "echo 7 3")
        #expect(try x("{.}", ["dir.d/file.tar.gz"]) == "dir.d/file.tar")
        #expect(try x("{.}", ["dir.d/file"]) == "dir.d/file")
        #expect(try x("{/}", ["/a/b/c.txt"]) == "c.txt")
        #expect(try x("{/}", ["c.txt"]) == "c.txt")
        #expect(try x("{//}", ["/a/b/c.txt"]) == "/a/b")
        #expect(try x("{//}", ["c.txt"]) == ".")
        #expect(try x("{//}", ["/c.txt"]) == "/")
        #expect(try x("{//}", ["a//b/"]) == "a")
        #expect(try x("{/.}", ["/a/b/c.txt"]) == "c")
        #expect(try x("{2.} {2/} {2//} {2/.}", ["x", "p/q.r"]) == "p/q q.r p q")
        #expect(try x("{1/}", ["a b/c d"]) == "'c d'")
        #expect(try x("{3}", ["a", "b"]) == "")
        #expect(try x("mv {} {.}.bak", ["my file.txt"]) == "mv 'my file.txt' 'my file'.bak")
    }

    @Test func notReplacementStrings() throws {
        let t = try Template("awk '{print $1}' {0} {x} {1x} {./} {#1} {")
        #expect(!t.hasReplacement)
        #expect(t.expand(args: ["f"], seq: 1, slot: 1) == "awk '{print $1}' {0} {x} {1x} {./} {#1} { f")
    }

    @Test func noReplacementAppendsQuotedArgs() throws {
        let t = try Template("echo")
        #expect(!t.hasReplacement)
        #expect(t.expand(args: ["a b", "c"], seq: 1, slot: 1) == "echo 'a b' c")
        #expect(try Template("echo {#}").hasReplacement)
        #expect(try Template("echo {#}").expand(args: ["a"], seq: 2, slot: 1) == "echo 2")
        for s in ["{}", "{1}", "{#}", "{%}", "{.}", "{/}", "{//}", "{/.}", "{12.}", "{2/}", "{2//}", "{2/.}"] {
            #expect(try Template("x " + s).hasReplacement, "\(s)")
        }
    }

    @Test func emptyTemplates() throws {
        #expect(throws: SweepError("empty command template")) { try Template("") }
        #expect(throws: SweepError("empty command template")) { try Template("  \t ") }
        #expect(throws: SweepError("empty command template")) { try Template(words: []) }
        #expect(try Template(words: ["echo", "a", "{}"]).text == "echo a {}")
    }

    @Test func shellTaskCommands() throws {
        let task = ShellTask(template: try Template("run {%} {#} {}"), args: ["a b"], seq: 4)
        #expect(task.command(slot: 2) == "run 2 4 'a b'")
        #expect(task.displayCommand == "run {%} 4 'a b'")
    }

    @Test func sweepFromWords() throws {
        let s = try Sweep.parse(words: ["echo", "{1}-{2}", ":::", "a", "b", ":::", "1..3"])
        #expect(s.template.text == "echo {1}-{2}")
        #expect(s.groups == [["a", "b"], ["1", "2", "3"]])
        #expect(s.count == 6)
        let all = (0..<s.count).map { s.arguments(at: $0) }
        #expect(all == [["a", "1"], ["a", "2"], ["a", "3"], ["b", "1"], ["b", "2"], ["b", "3"]])
    }

    @Test func sweepWithoutGroups() throws {
        let s = try Sweep.parse(words: ["gzip", "-9"])
        #expect(s.groups.isEmpty)
        #expect(s.count == 0)
        #expect(s.template.text == "gzip -9")
        let stdin = Sweep(template: s.template, groups: [["x", "y"]])
        #expect(stdin.count == 2)
        #expect(stdin.arguments(at: 1) == ["y"])
    }

    @Test func ranges() throws {
        func g(_ w: String) throws -> [String] { Array(try Sweep.parse(words: ["e", ":::", w]).groups[0]) }
        #expect(try g("1..5") == ["1", "2", "3", "4", "5"])
        #expect(try g("3..1") == ["3", "2", "1"])
        #expect(try g("-2..1") == ["-2", "-1", "0", "1"])
        #expect(try g("1..-1") == ["1", "0", "-1"])
        #expect(try g("4..4") == ["4"])
        #expect(try g("0..99").count == 100)
        for literal in ["1..", "..3", "a..b", "1...3", "1.5..3", "+1..3", "1..3x", "1.2", "--1..2"] {
            #expect(try g(literal) == [literal])
        }
        // Kept as a range, never expanded: a hundred billion values cost nothing; element i is computed.
        let huge = try Sweep.parse(words: ["e", ":::", "0..99999999999"])
        #expect(huge.count == 100_000_000_000)
        #expect(huge.arguments(at: 99_999_999_999) == ["99999999999"])
        #expect(huge.groups[0].items == [.range(from: 0, to: 99_999_999_999)])
        let mixed = try Sweep.parse(words: ["e", ":::", "a", "3..1", "b", "c", "10..11"])
        #expect(Array(mixed.groups[0]) == ["a", "3", "2", "1", "b", "c", "10", "11"])
        // Only a range whose size cannot be an Int is refused.
        #expect(throws: SweepError.self) { try g("-9223372036854775807..9223372036854775807") }
    }

    @Test func parseErrors() {
        #expect(throws: SweepError("::: needs at least one argument")) { try Sweep.parse(words: ["echo", ":::"]) }
        #expect(throws: SweepError("::: needs at least one argument")) {
            try Sweep.parse(words: ["echo", ":::", ":::", "a"])
        }
        #expect(performing: { try Sweep.parse(words: [":::", "a"]) }, throws: { ($0 as? SweepError)?.message.hasPrefix("no command given") == true })
        #expect(throws: SweepError("no arguments: write TEMPLATE ::: ARGS")) { try Sweep.parse(line: "echo {}") }
        #expect(throws: SweepError("no arguments: write TEMPLATE ::: ARGS")) { try Sweep.parse(line: "echo a:::b") }
        #expect(throws: SweepError("::: needs at least one argument")) { try Sweep.parse(line: "echo :::   ") }
        #expect(throws: SweepError("empty command template")) { try Sweep.parse(line: "  ::: a") }
        #expect(throws: SweepError.self) { try Sweep.parse(line: "echo ::: 'a b") }
        #expect(throws: SweepError.self) { try Sweep.parse(line: "echo ::: \"a b") }
        #expect(throws: SweepError.self) { try Sweep.parse(line: "echo ::: a\\") }
        #expect(throws: SweepError.self) { try Sweep.parse(line: "echo 'unclosed ::: a") }
    }

    @Test func promptLine() throws {
        let s = try Sweep.parse(line: "  sleep 0.1; echo $(({}*{})) ::: 0..99 ")
        #expect(s.template.text == "sleep 0.1; echo $(({}*{}))")
        #expect(s.groups == [ArgGroup((0...99).map(String.init))])
        #expect(ShellRunner.run(s.template.expand(args: s.arguments(at: 7), seq: 8, slot: 1)).stdout.text == "49\n")

        let q = try Sweep.parse(line: #"echo {1} {2} ::: 'a b' "c \"d\" \$e" f\ g '' ::: x ':::' 1..2 '1..2'"#)
        #expect(q.template.text == "echo {1} {2}")
        #expect(q.groups == [["a b", "c \"d\" $e", "f g", ""], ["x", ":::", "1", "2", "1..2"]])
        #expect(q.count == 20)
        #expect(q.arguments(at: 6) == ["c \"d\" $e", ":::"])
        #expect(q.arguments(at: 7) == ["c \"d\" $e", "1"])

        // A quoted ::: in the template is not the separator; the template is kept verbatim.
        let t = try Sweep.parse(line: "echo ':::' \"a  ::: b\" {}\t:::\ta")
        #expect(t.template.text == "echo ':::' \"a  ::: b\" {}")
        #expect(t.groups == [["a"]])
    }

    @Test func sweepRunsAsShellTasks() throws {
        let s = try Sweep.parse(line: "printf '%s-%s,' {1} {2} ::: a 'b c' ::: 2..1")
        var out = ""
        for i in 0..<s.count {
            let task = ShellTask(template: s.template, args: s.arguments(at: i), seq: i + 1)
            out += ShellRunner.run(task.command(slot: 1)).stdout.text
        }
        #expect(out == "a-2,a-1,b c-2,b c-1,")
    }
}
