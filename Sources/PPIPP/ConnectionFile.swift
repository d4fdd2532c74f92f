import Foundation

/// A problem with the connection file or the controller, said so the user knows what to do.
public struct IPPError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: Sendable, Equatable {
        case connectionFile, libzmq, signatureMismatch, notAnswering, unsupported, hubError, invalidArgument
    }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

/// What `security/ipcontroller-client.json` says: where the controller listens and the key to sign with.
public struct ConnectionInfo: Sendable, Equatable {
    public var path: String
    /// `tcp://127.0.0.1`.
    public var interface: String
    public var registration: Int
    public var task: Int
    public var mux: Int
    public var control: Int
    public var iopub: Int
    public var notification: Int
    public var broadcast: Int?
    public var key: String
    public var signatureScheme: String
    public var location: String?
    public var ssh: String?
    public var taskScheme: String?

    /// The endpoint of `port` on the controller's interface.
    public func url(_ port: Int) -> String { interface + ":" + String(port) }
    /// The controller's query endpoint, for messages.
    public var controllerURL: String { url(registration) }

    /// Parses the connection file's JSON.
    public static func parse(_ bytes: [UInt8], path: String) throws(IPPError) -> ConnectionInfo {
        let json: JSON
        do { json = try JSON.parse(bytes) } catch {
            throw IPPError(.connectionFile, "\(path) is not a connection file: \(error)")
        }
        func port(_ k: String) throws(IPPError) -> Int {
            guard let p = json[k]?.int, p > 0, p < 65536 else {
                throw IPPError(.connectionFile, "\(path) has no valid '\(k)' port: is it an ipcontroller-client.json?")
            }
            return p
        }
        var interface = json["interface"]?.string ?? "tcp://127.0.0.1"
        let location = json["location"]?.string
        // A controller listening on all interfaces is reached through its location (or this host).
        if interface == "tcp://*" || interface == "tcp://0.0.0.0" || interface == "tcp://" {
            interface = "tcp://" + (location.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1")
        }
        if !interface.hasPrefix("tcp://") {
            throw IPPError(.unsupported, "\(path): transport '\(interface)' is not supported (only tcp://)")
        }
        if let curve = json["curve_serverkey"]?.string, !curve.isEmpty {
            throw IPPError(
                .unsupported,
                "\(path): the controller uses CurveZMQ encryption, which ppdash does not support; "
                    + "start the cluster without curve (IPP_ENABLE_CURVE unset)")
        }
        let scheme = json["signature_scheme"]?.string ?? "hmac-sha256"
        if scheme != "hmac-sha256" {
            throw IPPError(.unsupported, "\(path): signature scheme '\(scheme)' is not supported (only hmac-sha256)")
        }
        for k in ["pack", "unpack"] {
            if let p = json[k]?.string, p != "json" {
                throw IPPError(.unsupported, "\(path): \(k) '\(p)' is not supported (only json)")
            }
        }
        return ConnectionInfo(
            path: path, interface: interface, registration: try port("registration"), task: try port("task"),
            mux: try port("mux"), control: try port("control"), iopub: try port("iopub"),
            notification: try port("notification"), broadcast: json["broadcast"]?.int,
            key: json["key"]?.string ?? "", signatureScheme: scheme, location: location,
            ssh: json["ssh"]?.string.flatMap { $0.isEmpty ? nil : $0 }, taskScheme: json["task_scheme"]?.string)
    }

    /// Reads and parses the file at `path`.
    public static func load(path: String) throws(IPPError) -> ConnectionInfo {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw IPPError(.connectionFile, "cannot read \(path)")
        }
        return try parse(Array(data), path: path)
    }

    /// Finds the connection file: a path as given, else `profile_<NAME>/security/ipcontroller[-<cluster id>]-client.json`
    /// under `$IPYTHONDIR` (default `~/.ipython`).
    public static func resolve(
        _ argument: String?, clusterId: String?, environment env: [String: String] = ProcessInfo.processInfo.environment
    ) throws(IPPError) -> String {
        let fm = FileManager.default
        if let a = argument, a.hasSuffix(".json") || a.contains("/") {
            guard fm.fileExists(atPath: a) else {
                throw IPPError(.connectionFile, "connection file \(a) does not exist")
            }
            return a
        }
        let profile = argument ?? "default"
        let home = env["HOME"] ?? NSHomeDirectory()
        let ipythonDir = env["IPYTHONDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? (home + "/.ipython")
        let security = ipythonDir + "/profile_" + profile + "/security"
        let name = clusterId.map { $0.isEmpty ? "ipcontroller-client.json" : "ipcontroller-\($0)-client.json" }
            ?? "ipcontroller-client.json"
        let path = security + "/" + name
        if fm.fileExists(atPath: path) { return path }
        let others = ((try? fm.contentsOfDirectory(atPath: security)) ?? [])
            .filter { $0.hasPrefix("ipcontroller-") && $0.hasSuffix("-client.json") && $0 != name }
            .sorted()
        if clusterId == nil, others.count == 1 { return security + "/" + others[0] }
        var msg = "no \(name) in \(security): is a cluster running? (start one with "
            + "'ipcluster start -n 4\(profile == "default" ? "" : " --profile=" + profile)')"
        if !others.isEmpty {
            let ids = others.map { String($0.dropFirst("ipcontroller-".count).dropLast("-client.json".count)) }
            msg += "; clusters there: " + ids.map { "--cluster-id \($0)" }.joined(separator: ", ")
        }
        throw IPPError(.connectionFile, msg)
    }
}
