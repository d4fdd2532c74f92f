import Synchronization

/// One token per expected worker, each under a tag: a listener that holds a keyring knows which worker connected
/// by the token it proved (a Slurm engine's job), and a token is taken out once used, so it admits one worker.
public final class EngineKeyring: Sendable {
    private let tokens = Mutex<[String: EngineToken]>([:])

    public init() {}

    /// Adds `token` under `tag` (replacing any token the tag had).
    public func add(_ token: EngineToken, tag: String) { tokens.withLock { $0[tag] = token } }

    /// Takes the tag's token out: a worker proving it is refused from now on.
    public func remove(tag: String) { tokens.withLock { $0[tag] = nil } }

    public var count: Int { tokens.withLock { $0.count } }

    /// The tag whose token `proof` proves, taken out of the ring (one worker per token), with that token.
    func take(proof: [UInt8], challenge: [UInt8], workerNonce: [UInt8]) -> (tag: String, token: EngineToken)? {
        tokens.withLock { ring in
            guard let hit = ring.first(where: { $0.value.verifyWorker(proof, challenge: challenge, workerNonce: workerNonce) })
            else { return nil }
            ring[hit.key] = nil
            return (hit.key, hit.value)
        }
    }
}
