// Reads an `InputPlan`'s groups into tasks' argument lists, as GNU parallel combines them, streaming the first
// group (and those linked to it) with a bounded buffer.
import Glibc
import PPSystem

/// One descriptor's items, split at a delimiter, read 64 KiB at a time (a file is never read whole).
final class ItemReader {
    private let fd: Int32
    private let owned: Bool
    let delimiter: [UInt8]
    /// What is named in messages (the file's path, or "stdin").
    let name: String
    private var buffer: [UInt8] = []
    private var start = 0
    /// Where the delimiter search resumes (everything before has none).
    private var scanned = 0
    private var ended = false
    /// Items returned so far (the last one's number, for messages).
    private(set) var count = 0
    /// Why reading stopped early (a read error), said once by the caller.
    private(set) var failure: String?
    /// Called before each `read(2)`: what was read so far can reach its tasks before this read blocks.
    var beforeRead: (() -> Void)?
    static let chunk = 65536

    init(fd: Int32, owned: Bool, delimiter: [UInt8], name: String) {
        self.fd = fd
        self.owned = owned
        self.delimiter = delimiter
        self.name = name
    }

    deinit { if owned { _ = close(fd) } }

    /// Opens `path` (`-`: stdin); a file that cannot be opened is refused in one line.
    static func open(_ path: String, delimiter: [UInt8]) throws(SweepError) -> ItemReader {
        if path == "-" { return ItemReader(fd: 0, owned: false, delimiter: delimiter, name: "stdin") }
        let fd = ByteText.withCString(path) { Glibc.open($0, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else {
            throw SweepError("cannot open input file \(ByteText.lossy(path)): \(String(cString: strerror(errno)))")
        }
        if SystemFacts.isDirectory(path) {
            _ = close(fd)
            throw SweepError("cannot read input file \(ByteText.lossy(path)): it is a directory")
        }
        return ItemReader(fd: fd, owned: true, delimiter: delimiter, name: ByteText.lossy(path))
    }

    /// The next item without its delimiter; the last one may lack it (an empty last one is no item); nil at the end.
    func next() -> [UInt8]? {
        while true {
            if let end = find() {
                let item = Array(buffer[start..<end])
                start = end + delimiter.count
                scanned = start
                count += 1
                return item
            }
            if ended {
                guard start < buffer.count else { return nil }
                let item = Array(buffer[start...])
                start = buffer.count
                count += 1
                return item
            }
            // Keep what may be the start of a delimiter; drop what is consumed, then read more.
            scanned = max(start, buffer.count - delimiter.count + 1)
            if start > 0 {
                buffer.removeFirst(start)
                scanned -= start
                start = 0
            }
            beforeRead?()
            let old = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: Self.chunk))
            var n: Int
            repeat {
                n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + old, Self.chunk) }
            } while n < 0 && errno == EINTR
            if n < 0 { failure = "reading \(name): \(String(cString: strerror(errno))); the input ends here" }
            buffer.removeLast(Self.chunk - max(n, 0))
            if n <= 0 { ended = true }
        }
    }

    private func find() -> Int? {
        let d = delimiter
        if d.count == 1 { return buffer[scanned...].firstIndex(of: d[0]) }
        var i = scanned
        while i + d.count <= buffer.count {
            if buffer[i] == d[0] && buffer[i..<(i + d.count)].elementsEqual(d) { return i }
            i += 1
        }
        return nil
    }
}

/// The tasks' argument lists of an `InputPlan`: the cartesian product of its units (a group plus those linked to
/// it, paired one for one up to the shortest), first unit varying slowest; each value split by `--colsep`, `-N`
/// rows flattened into one task. The first unit is streamed (a file or stdin of any length); the other units are
/// read whole, as the product needs them again and again. Used by one thread at a time.
public final class InputRows {
    /// The template, its `--header` names resolved to positions.
    public private(set) var template: Template
    /// The names `--header :` read, with their positions (1-based).
    public private(set) var names: [String: Int]
    /// Said once each: an item cut at a NUL byte, a read error.
    private let warn: (String) -> Void

    private enum Column {
        case memory(ArgGroup, next: Int)
        case stream(ItemReader)
    }

    private var first: [Column]
    /// The other units, each as its groups (paired by index) and its length.
    private var units: [(groups: [ArgGroup], count: Int)]
    private var odometer: [Int]
    private var current: [String]?
    private let options: InputOptions
    private let columns: Regex<AnyRegexOutput>?
    private let literalSeparator: [UInt8]?
    private var warnedNUL = false
    private var finished = false
    private var exhausted = false
    /// The first row was read (the empty-source rule applies to it only).
    private var started = false

    /// Opens the files (one that cannot be opened is refused before anything runs), reads the header, and reads
    /// the units after the first whole.
    public init(_ plan: InputPlan, warn: @escaping (String) -> Void) throws(SweepError) {
        self.warn = warn
        options = plan.options
        if let c = plan.options.columnSeparator {
            if c.unicodeScalars.allSatisfy({ !"\\^$.|?*+()[]{}".unicodeScalars.contains($0) }) {
                literalSeparator = ByteText.bytes(of: c)
                columns = nil
            } else {
                literalSeparator = nil
                do { columns = try Regex(c) } catch { throw SweepError("--colsep \(ByteText.lossy(c)): not a regular expression") }
            }
        } else {
            literalSeparator = nil
            columns = nil
        }
        var groups = plan.groups
        if groups.isEmpty { groups = [InputGroup(.file("-"))] }
        var readers = [ItemReader?]()
        for g in groups {
            if case .file(let f) = g.source { readers.append(try ItemReader.open(f, delimiter: plan.options.delimiter)) } else { readers.append(nil) }
        }
        // Units: a group and the groups linked to it.
        var unitRanges = [Range<Int>]()
        for (i, g) in groups.enumerated() {
            if g.linked, let last = unitRanges.popLast() { unitRanges.append(last.lowerBound..<(i + 1)) } else { unitRanges.append(i..<(i + 1)) }
        }
        var cols = [Column]()
        for i in unitRanges[0] {
            if let r = readers[i] { cols.append(.stream(r)) } else if case .values(let v) = groups[i].source { cols.append(.memory(v, next: 0)) }
        }
        first = cols
        units = []
        odometer = []
        template = try Template("{}")  // replaced below; every stored property is set first
        names = [:]
        // The header: each group's first value (its columns with --colsep) names positions.
        var found = [String: Int]()
        var position = 1
        var skipFirst = Set<Int>()
        if plan.options.header {
            for k in first.indices {
                // An empty source still holds its position (its value is the empty one, see `readFirstRow`).
                guard let v = take(&first[k]) else {
                    position += 1
                    continue
                }
                for name in split(v) { if found[name] == nil { found[name] = position }; position += 1 }
            }
            skipFirst = Set(unitRanges.dropFirst().flatMap { $0 })
        }
        for range in unitRanges.dropFirst() {
            var unit = [ArgGroup]()
            for i in range {
                var g: ArgGroup
                if let r = readers[i] {
                    g = ArgGroup()
                    while let item = r.next() { g.append(text(item, from: r)) }
                    if let f = r.failure { warn("ppdash: \(f)") }
                } else if case .values(let v) = groups[i].source {
                    g = v
                } else {
                    g = ArgGroup()
                }
                if skipFirst.contains(i) {
                    if let v = g.first {
                        for name in split(v) { if found[name] == nil { found[name] = position }; position += 1 }
                    } else {
                        position += 1
                    }
                    var rest = ArgGroup()
                    for v in g.dropFirst() { rest.append(v) }  // header with ranges: rare, made plain
                    g = rest
                }
                unit.append(g)
            }
            units.append((unit, unit.map(\.count).min() ?? 0))
        }
        odometer = [Int](repeating: 0, count: units.count)
        names = found
        template = try Template(Template.resolvingNames(plan.templateText, found))
    }

    /// The next task's arguments; nil at the end of the input.
    public func next() -> [String]? {
        guard !finished else { return nil }
        let n = options.perTask ?? 1
        var args = [String]()
        var rows = 0
        while rows < max(n, 1), let row = nextRow() {
            if n > 0 { args += row }
            rows += 1
        }
        return rows == 0 ? end() : args
    }

    /// `body` is called before each read that may block (what was read so far can reach its tasks first).
    public func beforeRead(_ body: @escaping () -> Void) {
        for c in first { if case .stream(let r) = c { r.beforeRead = body } }
    }

    private func end() -> [String]? {
        finished = true
        for c in first { if case .stream(let r) = c, let f = r.failure { warn("ppdash: \(f)") } }
        return nil
    }

    /// One row of the product: the first unit's current values, then each other unit's at the odometer.
    private func nextRow() -> [String]? {
        if exhausted { return nil }
        if current == nil {
            guard let row = started ? readFirst() : readFirstRow() else {
                exhausted = true
                return nil
            }
            current = row
        }
        var row = current!
        for (u, i) in zip(units, odometer) { for g in u.groups { row.append(g[i]) } }
        // Advance: the last unit fastest; past the end, the first unit's next row.
        var k = units.count - 1
        while k >= 0 {
            odometer[k] += 1
            if odometer[k] < units[k].count { break }
            odometer[k] = 0
            k -= 1
        }
        if k < 0 { current = nil }
        guard columns != nil || literalSeparator != nil else { return row }
        return row.flatMap(split)
    }

    /// The product's first row, as GNU parallel makes it: each input source gives its first value, and a source that
    /// is empty while another is not gives one empty value (`-a /dev/null echo ::: x` runs `echo '' x`); when every
    /// source is empty there is no row.
    private func readFirstRow() -> [String]? {
        started = true
        var row = [String?]()
        row.reserveCapacity(first.count)
        for k in first.indices { row.append(take(&first[k])) }
        let firstEmpty = row.map { $0 == nil }
        let unitEmpty = units.map { u in u.groups.map(\.isEmpty) }
        guard firstEmpty.contains(false) || unitEmpty.contains(where: { $0.contains(false) }) else { return nil }
        for (u, empty) in unitEmpty.enumerated() where empty.contains(true) {
            for (g, e) in empty.enumerated() where e { units[u].groups[g] = [""] }
            units[u].count = units[u].groups.map(\.count).min() ?? 0
        }
        return row.map { $0 ?? "" }
    }

    private func readFirst() -> [String]? {
        var row = [String]()
        row.reserveCapacity(first.count)
        for k in first.indices {
            guard let v = take(&first[k]) else { return nil }
            row.append(v)
        }
        return row
    }

    private func take(_ c: inout Column) -> String? {
        switch c {
        case .memory(let g, let i):
            guard i < g.count else { return nil }
            c = .memory(g, next: i + 1)
            return g[i]
        case .stream(let r):
            guard let item = r.next() else { return nil }
            return text(item, from: r)
        }
    }

    /// An item's bytes as an argument; a NUL ends it (an argument cannot hold one), said once.
    private func text(_ item: [UInt8], from r: ItemReader) -> String {
        guard let nul = item.firstIndex(of: 0) else { return ByteText.decode(item) }
        if !warnedNUL {
            warnedNUL = true
            let what = r.delimiter == [10] ? "line" : "item"
            warn("ppdash: \(what) \(r.count) of \(r.name) holds a NUL byte: cut there (an argument cannot hold one; -0 reads NUL-separated items)")
        }
        return ByteText.decode(item[..<nul])
    }

    /// `--colsep`: the value's columns (all of them, empty ones too); without it, the value.
    func split(_ v: String) -> [String] {
        if let sep = literalSeparator {
            let b = ByteText.bytes(of: v)
            var out = [String]()
            var s = 0
            var i = 0
            while i + sep.count <= b.count {
                if b[i] == sep[0] && b[i..<(i + sep.count)].elementsEqual(sep) {
                    out.append(ByteText.decode(b[s..<i]))
                    i += sep.count
                    s = i
                } else {
                    i += 1
                }
            }
            out.append(ByteText.decode(b[s...]))
            return out
        }
        if let re = columns {
            return v.split(separator: re, omittingEmptySubsequences: false).map(String.init)
        }
        return [v]
    }
}
