import PPSystem

extension TaskMetadata {
    /// A record built outside the scheduler (by a source that mirrors another system's tasks).
    public init(
        id: TaskID, batch: BatchID, seq: Int, engine: EngineID?, engineHost: String?, status: TaskStatus,
        submitted: Timestamp, started: Timestamp?, completed: Timestamp?, received: Timestamp?, retries: Int,
        stdout: CapturedOutput, stderr: CapturedOutput, error: String?, exitStatus: Int32?, signal: Int32?,
        text: String, args: [String], externalId: String?, usage: ResourceUsage? = nil
    ) {
        self.init(
            id: id, batch: batch, seq: seq, engine: engine, engineHost: engineHost, status: status, submitted: submitted,
            started: started, completed: completed, received: received, retries: retries, stdout: stdout, stderr: stderr,
            error: error, exitStatus: exitStatus, signal: signal, after: nil, follow: nil, text: text, args: args,
            processGroup: nil, externalId: externalId, usage: usage)
    }
}
