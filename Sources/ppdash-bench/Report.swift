import Foundation
import PPJSON

/// How a figure is printed.
enum FigureUnit: String, Codable, Sendable {
    case seconds, milliseconds, microseconds, perSecond, bytes, bytesPerSecond, ratio
    /// A number of things (tasks, side effects): fewer is better.
    case count

    /// `value` with its unit, rounded to what the noise allows.
    func format(_ value: Double) -> String {
        switch self {
        case .seconds: return String(format: "%.3f s", value)
        case .milliseconds: return value < 10 ? String(format: "%.1f ms", value) : String(format: "%.0f ms", value)
        case .microseconds:
            if value >= 10_000 { return String(format: "%.1f ms", value / 1000) }
            return value < 10 ? String(format: "%.1f us", value) : String(format: "%.0f us", value)
        case .perSecond: return grouped(value) + "/s"
        case .bytes:
            if value < 10_000 { return String(format: "%.0f B", value) }
            return value < 10_000_000 ? String(format: "%.1f KB", value / 1000) : String(format: "%.1f MB", value / 1_000_000)
        case .bytesPerSecond: return String(format: "%.0f B/s", value)
        case .ratio: return String(format: "%.2fx", value)
        case .count: return grouped(value)
        }
    }

    /// Lower is better for times, sizes and byte rates; higher for rates.
    var lowerIsBetter: Bool { self != .perSecond }
}

/// Thousands separated by commas, no decimals.
func grouped(_ value: Double) -> String {
    let n = Int(value.rounded())
    var digits = String(abs(n))
    var out = ""
    while digits.count > 3 {
        out = "," + digits.suffix(3) + out
        digits.removeLast(3)
    }
    return (n < 0 ? "-" : "") + digits + out
}

/// A goal from the benchmark issue.
enum Goal: Codable, Sendable {
    case atMost(Double)
    case atLeast(Double)

    func met(by value: Double) -> Bool {
        switch self {
        case .atMost(let g): value <= g
        case .atLeast(let g): value >= g
        }
    }

    func text(_ unit: FigureUnit) -> String {
        switch self {
        case .atMost(let g): "<= " + unit.format(g)
        case .atLeast(let g): ">= " + unit.format(g)
        }
    }
}

/// One measured figure: a JSON key, a row of the table.
struct Figure: Sendable {
    /// The JSON key, and the key peers' figures are matched on.
    var key: String
    /// The row's label.
    var name: String
    var unit: FigureUnit
    var value: Double
    var goal: Goal?
    /// How it was measured (runs, medians), shown under the table.
    var note: String?
}

/// Figures the peers measured (bench/compare's bench/peers.py writes them).
struct PeerFigures: Sendable {
    /// Peer name -> figure key -> value.
    var figures: [String: [String: Double]] = [:]
    /// Peer name -> version, for the table's heading.
    var versions: [String: String] = [:]

    /// Column order and headings.
    static let columns: [(key: String, title: String)] = [
        ("ipyparallel", "ipyparallel"), ("dask", "Dask"), ("multiprocessing", "multiprocessing.Pool"),
        ("gnu_parallel", "GNU parallel"), ("xargs", "xargs -P4"),
    ]

    /// Reads `{"peers": {name: {key: value}}, "versions": {name: version}}`.
    init(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let top = (try? JSONValue.parse(Array(data)))?.object else { throw BenchError("\(path): not a JSON object") }
        for (peer, body) in top["peers"]?.object ?? [:] {
            figures[peer] = (body.object ?? [:]).compactMapValues(\.double)
        }
        versions = (top["versions"]?.object ?? [:]).compactMapValues(\.string)
    }

    init() {}

    /// Peers with at least one figure, in column order.
    var present: [(key: String, title: String)] {
        Self.columns.filter { figures[$0.key]?.isEmpty == false }
    }
}

/// A failure of the benchmark itself, in one line.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// The table and the JSON object.
enum Report {
    /// A Markdown table: figure, ppdash, goal, met, then each peer's value and ppdash's advantage over it.
    static func table(_ figures: [Figure], peers: PeerFigures) -> String {
        let cols = peers.present
        var header = ["figure", "ppdash", "goal", "met"]
        for c in cols { header.append(c.title + (peers.versions[c.key].map { " \($0)" } ?? "")) }
        var rows = [header]
        for f in figures {
            var row = [
                f.name, f.unit.format(f.value), f.goal?.text(f.unit) ?? "",
                f.goal.map { $0.met(by: f.value) ? "yes" : "**no**" } ?? "",
            ]
            for c in cols {
                guard let v = peers.figures[c.key]?[f.key] else {
                    row.append("")
                    continue
                }
                row.append(f.unit.format(v) + advantage(f, peer: v))
            }
            rows.append(row)
        }
        var widths = [Int](repeating: 0, count: header.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ r: [String]) -> String {
            "| "
                + r.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: " | ") + " |"
        }
        var out = [line(rows[0])]
        out.append(
            "| "
                + widths.enumerated().map { i, w in
                    i == 0 ? String(repeating: "-", count: w) : String(repeating: "-", count: w - 1) + ":"
                }.joined(separator: " | ") + " |")
        for r in rows.dropFirst() { out.append(line(r)) }
        if !cols.isEmpty { out.append("(a peer's value, then how many times better ppdash is: >1 ppdash leads)") }
        return out.joined(separator: "\n")
    }

    /// " (12x)": how many times better ppdash is than a peer's value.
    static func advantage(_ f: Figure, peer: Double) -> String {
        guard peer > 0, f.value > 0 else { return "" }
        let r = f.unit.lowerIsBetter ? peer / f.value : f.value / peer
        if r >= 100 { return String(format: " (%.0fx)", r) }
        return r >= 10 ? String(format: " (%.0fx)", r) : String(format: " (%.2fx)", r)
    }

    /// One JSON object: every figure by key, goals and whether they are met, the peers, the machine.
    static func json(_ figures: [Figure], peers: PeerFigures, machine: [String: Any]) -> String {
        var figs = [String: JSONValue]()
        var goals = [String: JSONValue]()
        for f in figures {
            figs[f.key] = .number(f.value)
            if let g = f.goal {
                switch g {
                case .atMost(let v): goals[f.key] = ["at_most": .number(v), "met": .bool(g.met(by: f.value))]
                case .atLeast(let v): goals[f.key] = ["at_least": .number(v), "met": .bool(g.met(by: f.value))]
                }
            }
        }
        func value(_ any: Any) -> JSONValue {
            switch any {
            case let b as Bool: .bool(b)
            case let i as Int: .integer(Int64(i))
            case let d as Double: .number(d)
            default: .string("\(any)")
            }
        }
        var top: [String: JSONValue] = [
            "figures": .object(figs), "goals": .object(goals), "machine": .object(machine.mapValues(value)),
        ]
        top["labels"] = .object(Dictionary(uniqueKeysWithValues: figures.map { ($0.key, .string($0.name)) }))
        top["notes"] = .object(Dictionary(uniqueKeysWithValues: figures.compactMap { f in f.note.map { (f.key, .string($0)) } }))
        if !peers.figures.isEmpty {
            top["peers"] = .object(peers.figures.mapValues { .object($0.mapValues(JSONValue.number)) })
            top["peer_versions"] = .object(peers.versions.mapValues(JSONValue.string))
        }
        return JSONValue.object(top).prettyText
    }
}
