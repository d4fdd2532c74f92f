// GNU parallel's attached short values (`-j4`, `-j+2`, `-j50%`, `-P4`): the argument library reads `-j4` as the
// flags `-j` `-4`; before the template they are split into `-j 4`. Words from the template on are never touched.
// `-n` is refused on `run` and `resume`: GNU parallel's `-n` is max-args, ppdash's was the engine count.

import PPKit

enum GNUArgv {
    /// The one line `run -n` and `resume -n` are refused with.
    static func nRefusal(_ command: String) -> String {
        "\(command): -n is not supported: for the number of jobs (engines) use -j N, for arguments per task -N N (GNU parallel's -n is max-args)"
    }

    /// True when `word` is `-n` or `-nVALUE` (an attached value, as GNU parallel users write it).
    static func isN(_ word: String) -> Bool { word == "-n" || (word.hasPrefix("-n") && !word.hasPrefix("--")) }

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

    /// `normalize`'s words in two parts, for `run`: up to the first `:::`-family separator after run's options, and
    /// the words after it. The argument library copies each word it captures for `RunCommand.words` in time
    /// quadratic in their count (8,000 `:::` values took 5.7 s), so `main` parses the first part and appends the
    /// rest to `words` as given, once it has checked that the separator was taken as one of those words (else it
    /// parses the whole line: the separator was an option's value). `rest` is empty when there is nothing to cut.
    static func normalizeSplit(_ args: [String]) throws(PPError) -> (parsed: [String], rest: [String]) {
        let all = try normalize(args)
        guard all.first == "run", let cut = all.indices.dropFirst().first(where: { separators.contains(all[$0]) }),
            cut + 1 < all.count
        else { return (all, []) }
        return (Array(all[...cut]), Array(all[(cut + 1)...]))
    }

    /// The words that start an input source after the template.
    static let separators: Set<String> = [":::", "::::", ":::+", "::::+"]

    /// `args` (after the program name) with `-jVALUE` split into `-j VALUE` in `run`'s options, before the template.
    /// `-n` among `run`'s options (before the template) or `resume`'s (before `--`) is refused (see `nRefusal`).
    static func normalize(_ args: [String]) throws(PPError) -> [String] {
        if args.first == "resume", args.dropFirst().prefix(while: { $0 != "--" }).contains(where: isN) {
            throw PPError(.invalidArgument, nRefusal("resume"))
        }
        guard args.first == "run" else { return args }
        var out = ["run"]
        var i = 1
        while i < args.count {
            let a = args[i]
            if a == "--" || !a.hasPrefix("-") || a == "-" { break }
            if isN(a) { throw PPError(.invalidArgument, nRefusal("run")) }
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
        i = min(i, args.count)  // a value option last (`run -j`): its missing value is the library's to refuse
        return out + args[i...]
    }
}
