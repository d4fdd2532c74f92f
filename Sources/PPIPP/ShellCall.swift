/// The `apply_request` ppdash sends for one shell task: `subprocess.run(cmd, shell=True, capture_output=True,
/// text=True, errors="replace")`, a standard-library function referenced by name, so a stock engine runs it and
/// returns a `CompletedProcess` (exit status, stdout and stderr) that `PickleReader` decodes.
public enum ShellCall {
    /// Keyword arguments, in the sorted order ipyparallel's `pack_apply_message` uses.
    static let kwargs: [(String, PickleValue)] = [
        ("capture_output", .bool(true)), ("errors", .string("replace")), ("shell", .bool(true)), ("text", .bool(true)),
    ]

    /// The message buffers: `[f, info, cmd, kwarg values...]`.
    public static func buffers(command: String) -> [[UInt8]] {
        let f = PickleWriter.dumps(.global(module: "subprocess", name: "run"))
        let info = PickleWriter.dumps(
            .dict([
                PickleEntry(.string("nargs"), .int(1)), PickleEntry(.string("narg_bufs"), .int(1)),
                PickleEntry(.string("kw_keys"), .list(kwargs.map { .string($0.0) })),
            ]))
        return [f, info, PickleWriter.dumps(.string(command))] + kwargs.map { PickleWriter.dumps($0.1) }
    }
}
