/// An error from PPKit: a code to match on and a message that says what happened and what to do.
public struct PPError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public var description: String { name }
        /// A wait or get ran out of time; nothing was cancelled.
        public static let timeout = Code(name: "timeout")
        /// A dependency names a task this scheduler does not know.
        public static let invalidDependency = Code(name: "invalidDependency")
        /// A dependency can no longer be met.
        public static let impossibleDependency = Code(name: "impossibleDependency")
        /// An argument or flag is out of range.
        public static let invalidArgument = Code(name: "invalidArgument")
        /// `successful()` or a timing was asked of a batch that is not done.
        public static let notReady = Code(name: "notReady")
        /// The operation needs an engine and there is none.
        public static let noEngine = Code(name: "noEngine")
        /// Unknown task, batch or engine id.
        public static let unknownID = Code(name: "unknownID")
        /// The request does not fit the task's state (e.g. retrying a running task).
        public static let invalidState = Code(name: "invalidState")
    }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

/// A task that did not finish `ok`: ipyparallel's `RemoteError`, naming the task and its engine.
public struct TaskFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public var task: TaskID
    public var engine: EngineID?
    public var status: TaskStatus
    public var message: String
    public init(task: TaskID, engine: EngineID?, status: TaskStatus, message: String) {
        self.task = task
        self.engine = engine
        self.status = status
        self.message = message
    }
    public var description: String {
        let on = engine.map { " on engine \($0)" } ?? ""
        return "task \(task)\(on) \(status): \(message)"
    }
}

/// Several failed tasks as one error: ipyparallel's `CompositeError`.
public struct CompositeError: Error, Sendable, Hashable, CustomStringConvertible {
    public var failures: [TaskFailure]
    public init(failures: [TaskFailure]) { self.failures = failures }
    public var description: String {
        var lines = ["\(failures.count) tasks failed:"]
        for f in failures.prefix(4) { lines.append("  " + f.description) }
        if failures.count > 4 { lines.append("  ... \(failures.count - 4) more") }
        return lines.joined(separator: "\n")
    }
}
