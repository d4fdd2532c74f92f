import ArgumentParser
import Foundation
import PPKit
import PPSource

// The command line's value types: each parses its own text; the commands' `validate()` check their bounds.

/// A duration on the command line, in seconds (`0.5`, `30`), kept with its text for error lines.
struct Seconds: ExpressibleByArgument, Sendable {
    var value: Double
    /// The argument as given (`inf`, `1e400`), so an error line shows what the user wrote.
    var text: String

    init(_ value: Double) {
        self.value = value
        text = String(format: "%g", value)
    }
    init?(argument: String) {
        guard let v = Double(argument) else { return nil }
        value = v
        text = argument
    }

    var defaultValueDescription: String { String(format: "%g", value) }

    /// Refuses NaN, infinities and values outside `range` in one line naming `option` and its `rule`.
    func check(_ option: String, _ range: ClosedRange<Double> = Seconds.positive, _ rule: String = "> 0") throws {
        guard value.isFinite, range.contains(value) else {
            if value.isFinite, value > range.upperBound, range.upperBound == Seconds.longest {
                throw ValidationError("\(option) must be at most \(Int(Seconds.longest)) seconds (got \(text))")
            }
            throw ValidationError("\(option) must be a finite number of seconds \(rule) (got \(text))")
        }
    }

    /// The longest duration any option takes (about 31 years): past it a deadline in nanoseconds would overflow.
    static let longest: Double = 1e9
    static let positive = Double.leastNonzeroMagnitude...longest
    static let nonNegative = 0...longest
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
