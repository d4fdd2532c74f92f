/// One `-e` item: which engines to start and where.
public enum EngineSpec: Sendable, Hashable, CustomStringConvertible {
    /// In-process engines: `4` or `local:4`.
    case local(count: Int)
    /// `ppdash engine --stdio` child processes on this host: `proc:4`.
    case proc(count: Int)
    /// Workers started over ssh: `ssh:4/[user@]host[:port]` (GNU parallel's `--sshlogin` form).
    case ssh(count: Int, login: SSHLogin)
    /// A TCP listener that workers connect in to: `listen` or `listen:PORT` (0 or none: any free port).
    case listen(port: Int)
    /// Workers started as Slurm jobs (one job array) that connect back in: `slurm:N`.
    case slurm(count: Int)

    /// The most engines one spec may start.
    public static let maxCount = 4096

    public var kind: EngineKind {
        switch self {
        case .local: .local
        case .proc: .proc
        case .ssh: .ssh
        case .listen: .connected
        case .slurm: .slurm
        }
    }

    public var description: String {
        switch self {
        case .local(let n): "local:\(n)"
        case .proc(let n): "proc:\(n)"
        case .ssh(let n, let login): "ssh:\(n)/\(login)"
        case .listen(let port): port == 0 ? "listen" : "listen:\(port)"
        case .slurm(let n): "slurm:\(n)"
        }
    }

    static let forms = "N, local:N, proc:N, ssh:N/[user@]host[:port], listen[:PORT] or slurm:N"

    /// Parses a comma-separated list; at most one `listen`.
    public static func parseList(_ text: String, defaultCount: Int) throws(PPError) -> [EngineSpec] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        var specs: [EngineSpec] = []
        for item in items {
            guard !item.isEmpty else {
                throw PPError(.invalidArgument, "empty engine spec in '\(text)': use \(forms), separated by commas")
            }
            specs.append(try parse(item, defaultCount: defaultCount))
        }
        if specs.filter({ $0.kind == .connected }).count > 1 {
            throw PPError(
                .invalidArgument, "more than one listen spec in '\(text)': one listener takes any number of engines")
        }
        return specs
    }

    /// Parses one spec; a kind without a count (`local`, `proc`) gets `defaultCount`.
    public static func parse(_ text: String, defaultCount: Int) throws(PPError) -> EngineSpec {
        let (kind, rest) =
            text.firstIndex(of: ":").map { (String(text[..<$0]), Optional(String(text[text.index(after: $0)...]))) }
            ?? (text, nil)
        switch kind.lowercased() {
        case "local", "proc":
            let n = try rest.map { r throws(PPError) in try count(r, in: text) } ?? defaultCount
            return kind.lowercased() == "local" ? .local(count: n) : .proc(count: n)
        case "ssh":
            guard var r = rest, !r.isEmpty else {
                throw PPError(.invalidArgument, "engine spec '\(text)' names no host: use ssh:N/[user@]host[:port]")
            }
            if r.hasPrefix("//") { r.removeFirst(2) }
            var n = 1
            if !r.contains("/"), let count = Int(r) {
                // `ssh:2` reads as the host "2" and would wait for ssh to give up on it.
                throw PPError(
                    .invalidArgument,
                    "engine spec '\(text)' names no host: use ssh:N/HOST for N engines on HOST, e.g. ssh:\(count)/node1")
            }
            if let slash = r.firstIndex(of: "/") {
                n = try count(String(r[..<slash]), in: text)
                r = String(r[r.index(after: slash)...])
            }
            return .ssh(count: n, login: try SSHLogin(parsing: r, in: text))
        case "slurm":
            return .slurm(count: try rest.map { r throws(PPError) in try count(r, in: text) } ?? defaultCount)
        case "listen":
            guard let r = rest else { return .listen(port: 0) }
            guard let port = Int(r), (0...65535).contains(port) else {
                throw PPError(
                    .invalidArgument, "bad port '\(r)' in engine spec '\(text)': use listen or listen:PORT (0-65535)")
            }
            return .listen(port: port)
        default:
            if rest == nil, Int(kind) != nil { return .local(count: try count(kind, in: text)) }
            throw PPError(.invalidArgument, "unknown engine spec '\(text)': use \(forms)")
        }
    }

    static func count(_ s: String, in text: String) throws(PPError) -> Int {
        guard let n = Int(s), n >= 1, n <= maxCount else {
            throw PPError(
                .invalidArgument, "bad engine count '\(s)' in '\(text)': use a whole number from 1 to \(maxCount)")
        }
        return n
    }
}

/// `[user@]host[:port]`, with `[v6-address]` brackets where the host has colons.
public struct SSHLogin: Sendable, Hashable, CustomStringConvertible {
    public var user: String?
    public var host: String
    public var port: Int?

    public init(user: String? = nil, host: String, port: Int? = nil) {
        self.user = user
        self.host = host
        self.port = port
    }

    init(parsing s: String, in text: String) throws(PPError) {
        var rest = Substring(s)
        if let at = rest.lastIndex(of: "@") {
            let u = rest[..<at]
            guard !u.isEmpty else { throw PPError(.invalidArgument, "empty user name in '\(text)'") }
            user = String(u)
            rest = rest[rest.index(after: at)...]
        }
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw PPError(.invalidArgument, "unclosed [ in '\(text)': use [address]:port")
            }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else if !after.isEmpty {
                throw PPError(.invalidArgument, "unexpected '\(after)' after the address in '\(text)'")
            }
        } else if let colon = rest.firstIndex(of: ":") {
            host = String(rest[..<colon])
            portText = rest[rest.index(after: colon)...]
        } else {
            host = String(rest)
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "/" }) else {
            throw PPError(.invalidArgument, "bad host '\(host)' in engine spec '\(text)': use ssh:N/[user@]host[:port]")
        }
        if let p = portText {
            guard let n = Int(p), (1...65535).contains(n) else {
                throw PPError(.invalidArgument, "bad ssh port '\(p)' in '\(text)': use 1-65535")
            }
            port = n
        }
    }

    /// What ssh is given as its destination: `user@host` (the port goes in `-p`).
    public var destination: String { user.map { "\($0)@\(host)" } ?? host }

    public var description: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return (user.map { "\($0)@" } ?? "") + h + (port.map { ":\($0)" } ?? "")
    }
}

/// Splits a command line into words as sh would for plain words and quotes ('...', "...", backslash); no expansion.
public func splitCommandWords(_ s: String) throws(PPError) -> [String] {
    var words: [String] = []
    var word = ""
    var inWord = false
    var quote: Character?
    var escaped = false
    for c in s {
        if escaped {
            word.append(c)
            escaped = false
            continue
        }
        if let q = quote {
            if c == q {
                quote = nil
            } else if c == "\\" && q == "\"" {
                escaped = true
            } else {
                word.append(c)
            }
            continue
        }
        switch c {
        case "'", "\"":
            quote = c
            inWord = true
        case "\\":
            escaped = true
            inWord = true
        case " ", "\t", "\n":
            if inWord { words.append(word) }
            word = ""
            inWord = false
        default:
            word.append(c)
            inWord = true
        }
    }
    guard quote == nil, !escaped else { throw PPError(.invalidArgument, "unbalanced quote or trailing \\ in '\(s)'") }
    if inWord { words.append(word) }
    return words
}
