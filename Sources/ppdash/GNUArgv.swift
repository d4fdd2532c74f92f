// GNU parallel's attached short values (`-j4`, `-j+2`, `-j50%`, `-P4`): the argument library reads `-j4` as the
// flags `-j` `-4`; before the template they are split into `-j 4`. Words from the template on are never touched.

enum GNUArgv {
    /// run's options that take a value (the word after them is that value, not the template). An option missing
    /// here only stops the rewrite early: `-j4` after it is then refused as a bad value, never taken as another.
    static let valueOptions: Set<String> = [
        "-n", "-j", "-P", "--jobs", "-e", "--engines", "--scheme", "--ssh", "--remote-ppdash", "--bind", "--token-file",
        "--heartbeat", "--retries", "--timeout", "--halt", "--max-output", "--env", "--workdir", "--refresh", "--journal",
        "--tagstring", "--results", "--joblog", "--delay", "--nice", "--memfree", "--load", "-S", "--sshlogin",
        "--sshloginfile", "--slf",
    ]

    /// Short options whose value GNU parallel users attach.
    static let attachable: Set<Character> = ["j", "P", "n", "S"]

    /// `args` (after the program name) with `-jVALUE` split into `-j VALUE` in `run`'s options, before the template.
    static func normalize(_ args: [String]) -> [String] {
        guard args.first == "run" else { return args }
        var out = ["run"]
        var i = 1
        while i < args.count {
            let a = args[i]
            if a == "--" || !a.hasPrefix("-") || a == "-" { break }
            if valueOptions.contains(a) {
                out.append(a)
                if i + 1 < args.count { out.append(args[i + 1]) }
                i += 2
                continue
            }
            let chars = Array(a)
            if chars.count > 2, chars[0] == "-", chars[1] != "-", attachable.contains(chars[1]) {
                out.append(String(chars[0...1]))
                out.append(String(chars[2...]))
            } else {
                out.append(a)
            }
            i += 1
        }
        return out + args[i...]
    }
}
