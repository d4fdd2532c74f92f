import Foundation

@testable import PPKit

/// A scheduler listening for connect-in workers on a loopback port with a fresh token, and an in-process worker
/// joining it: the setup the connect-in, meters and remote-output tests share.
struct ConnectedWorker {
    let scheduler: Scheduler
    let token: EngineToken
    let listener: EngineListener
    let worker: InProcessWorker

    /// Listens (heartbeats every `heartbeat` seconds) and starts one worker connecting in.
    init(scheduler: Scheduler = Scheduler(), heartbeat: Double = 0.1) throws {
        var options = RemoteEngineOptions()
        options.heartbeat = heartbeat
        let token = EngineToken.random()
        self.scheduler = scheduler
        self.token = token
        listener = try EngineListener(scheduler: scheduler, port: 0, token: token, tokenPath: "/t", options: options)
        worker = InProcessWorker(port: listener.port, token: token)
    }

    /// Stops listening, shuts the scheduler down and waits for the worker to leave; its exit code.
    @discardableResult
    func close(timeout: Double = 10) -> Int32? {
        listener.close()
        scheduler.shutdown()
        return worker.exitCode(timeout: timeout)
    }
}
