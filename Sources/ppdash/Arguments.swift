import ArgumentParser
import Foundation
import PPKit
import PPSource

// The command line's value types: each parses its own text; the commands' `validate()` check their bounds.

/// A duration on the command line, in seconds (`0.5`, `30`).
struct Seconds: ExpressibleByArgument, Sendable {
    var value: Double

    init(_ value: Double) { self.value = value }
    init?(argument: String) {
        guard let v = Double(argument) else { return nil }
        value = v
    }

    var defaultValueDescription: String { String(format: "%g", value) }

    /// Refuses NaN, infinities and values outside `range` in one line naming `option` and its `rule`.
    func check(_ option: String, _ range: ClosedRange<Double> = Seconds.positive, _ rule: String = "> 0") throws {
        guard value.isFinite, range.contains(value) else {
            throw ValidationError("\(option) must be \(rule) seconds (got \(value))")
        }
    }

    static let positive = Double.leastNonzeroMagnitude...Double.greatestFiniteMagnitude
    static let nonNegative = 0...Double.greatestFiniteMagnitude
}

/// Refuses a count outside `bounds` in one line naming `option`.
func checkCount(_ option: String, _ value: Int, _ bounds: ClosedRange<Int>) throws {
    guard !bounds.contains(value) else { return }
    let range = bounds.upperBound == .max ? ">= \(bounds.lowerBound)" : "from \(bounds.lowerBound) to \(bounds.upperBound)"
    throw ValidationError("\(option) must be \(range) (got \(value))")
}

/// `--scheme`: ipyparallel's names (`leastload`, `lru`, `random`, `weighted`, `twobin`, and their spellings).
extension Scheme: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { ["leastload", "lru", "random", "weighted", "twobin"] }
}

/// One `-e` value: `SPEC[,SPEC...]`, kept as given for the journal's header.
struct EngineSpecList: Sendable {
    var text: String
    var specs: [EngineSpec]

    /// Parses the list; the error says which spec is wrong and how to write it (the library prints it).
    init(parsing text: String) throws(PPError) {
        self.text = text
        specs = try EngineSpec.parseList(text, defaultCount: ProcessInfo.processInfo.activeProcessorCount)
    }
}

/// `--halt now|soon`: what the batch's first failure stops (the scheduler applies it).
extension HaltPolicy: ExpressibleByArgument {}
