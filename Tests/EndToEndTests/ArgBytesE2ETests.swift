// Arguments are bytes: what is not UTF-8 in argv, stdin lines and templates reaches the task unchanged, and --json and
// the journal carry it recoverably (issue 13 item 8).
import Foundation
import PPSystem
import Testing

import Glibc

/// `bytes` as `od -An -v -tx1 | tr -d ' \n'` prints them.
private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

/// The argv word (or any text for the spawner) standing for `bytes`.
private func word(_ bytes: [UInt8]) -> String { ByteText.decode(bytes) }

/// A template printing its argument's bytes as hex, one line per task.
private let hexTemplate = "printf %s {} | od -An -v -tx1 | tr -d ' \\n'; echo"

/// Every byte 0x80-0xFF (none of them UTF-8 alone), between ASCII letters.
private let highBytes: [UInt8] = [0x61] + (0x80...0xFF).map { UInt8($0) } + [0x62]
/// Latin-1 `é`, a lone 0xFF, valid UTF-8 `é` and a genuine U+10FFFF (the codec's reserved range).
private let mixed: [UInt8] = [0x63, 0x61, 0x66, 0xE9, 0x2D, 0xFF, 0x2D, 0xC3, 0xA9, 0x2D, 0xF4, 0x8F, 0xBF, 0xBF]

private func lines(_ bytes: [UInt8]) -> [[UInt8]] {
    var out = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
    if out.last == [] { out.removeLast() }
    return out
}

/// Waits up to `timeout` for `condition`, polling every 20 ms.
private func waitFor(_ timeout: Double, _ condition: () -> Bool) async -> Bool {
    let end = now() + timeout
    while !condition() {
        if now() > end { return false }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return true
}

private func fileBytes(_ path: String) -> [UInt8] {
    FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
}

@Suite("arguments are bytes", .endToEndSlot, .serialized)
struct ArgBytesE2ETests {
    @Test("ls | ppdash run -- ls -la {} in a directory holding caf\\xE9.txt succeeds (the name's bytes reach ls)")
    func lsPipe() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let name: [UInt8] = Array("caf".utf8) + [0xE9] + Array(".txt".utf8)
        let fd = ByteText.withCString(dir.path + "/" + word(name)) { open($0, O_CREAT | O_WRONLY, 0o600) }
        try #require(fd >= 0, "cannot create the test file")
        close(fd)
        let bin = try #require(PPDash.path, Comment(rawValue: PPDash.notFound))
        let r = await EndToEndTests.run(
            ["/bin/sh", "-c", "ls | \"$0\" run --headless -- ls -la {}", bin], env: PPDash.baseEnvironment,
            directory: dir.path, timeout: 30)
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.outLines.count == 1 && r.stdout.firstRange(of: name) != nil, "ls printed the name's own bytes: \(r)")
        #expect(!r.err.contains("cannot access"), "\(r)")
    }

    @Test("argv arguments with bytes 0x80-0xFF reach the task exactly, local and on a proc worker", arguments: ["local", "proc:1"])
    func argvBytes(engines: String) async {
        let r = await PPDash.run(
            ["run", "--headless", "--keep-order", "-e", engines, "--", hexTemplate, ":::", word(highBytes), word(mixed)],
            timeout: 30)
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.outLines == [hex(highBytes), hex(mixed)], "\(r)")
    }

    @Test("a template's own bytes reach the task: printf %s X\\xE9{} with argument \\xFF gives 58 e9 ff")
    func templateBytes() async {
        let template = word(Array("printf %s X".utf8) + [0xE9] + Array("{} | od -An -v -tx1 | tr -d ' \\n'; echo".utf8))
        let r = await PPDash.run(["run", "--headless", "--", template, ":::", word([0xFF])], timeout: 30)
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.outLines == ["58e9ff"], "\(r)")
    }

    @Test("stdin lines with bytes that are not UTF-8 reach the task exactly")
    func stdinBytes() async {
        let given: [[UInt8]] = [[0x61, 0xFF, 0x62], [0xE9], [0xC3, 0xA9], highBytes, mixed]
        let input: [UInt8] = given.reduce(into: []) { $0 += $1 + [0x0A] }
        let r = await PPDash.run(["run", "--headless", "--keep-order", "--", hexTemplate], stdin: input, timeout: 30)
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.outLines == given.map(hex), "\(r)")
    }

    @Test("--json: args lossy for readers, args_base64 and command_base64 give the exact bytes")
    func jsonBase64() async throws {
        let r = await PPDash.run(
            ["run", "--json", "--", "printf %s {} >/dev/null", ":::", word(mixed), "plain"], timeout: 30)
        #expect(r.exitCode == 0, "\(r)")
        let objects = r.outLines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        try #require(objects.count == 2, "\(r)")
        let odd = try #require(objects.first { ($0["args"] as? [String])?.first != "plain" })
        let plain = try #require(objects.first { ($0["args"] as? [String])?.first == "plain" })
        let encoded = try #require(odd["args_base64"] as? [String], "\(odd)")
        #expect(encoded.count == 1)
        #expect(encoded.first.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } == mixed)
        #expect((odd["args"] as? [String])?.first?.contains("\u{FFFD}") == true, "lossy text for readers: \(odd)")
        let command = try #require((odd["command_base64"] as? String).flatMap { Data(base64Encoded: $0) }, "\(odd)")
        // Quoted as GNU parallel quotes it (a byte that is not ASCII is in single quotes).
        #expect([UInt8](command) == Array("printf %s '".utf8) + mixed + Array("' >/dev/null".utf8))
        #expect(plain["args_base64"] == nil && plain["command_base64"] == nil, "only where needed: \(plain)")
    }

    @Test("kill -9 mid-run, then resume runs the original bytes (from the journal)")
    func resumeBytes() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let journal = dir.file("j.jsonl")
        let m = String(UInt32.random(in: 100_000...999_999))
        defer { for p in processes(matching: "sleep 1\(m)") { kill(p.pid, SIGKILL) } }
        let a: [UInt8] = [0x41, 0xE9, 0xFF]
        let b = mixed
        let template = "printf '%s\\n' {} >> side; [ -e go ] || sleep 1\(m)"
        let child = try #require(
            PPDash.start(["run", "-j", "1", "--journal", journal, "--", template, ":::", word(a), word(b)], directory: dir.path),
            Comment(rawValue: PPDash.notFound))
        let running = await waitFor(20) { processes(matching: "sleep 1\(m)").contains { $0.comm == "sleep" } }
        #expect(running, "the first task runs")
        child.signal(SIGKILL)
        _ = await child.wait()
        #expect(lines(fileBytes(dir.file("side"))) == [a], "before the kill: \(fileBytes(dir.file("side")))")
        // Every journal line is JSON (valid UTF-8); the header carries the arguments' bytes.
        let text = String(decoding: fileBytes(journal), as: UTF8.self)
        let header = text.split(separator: "\n").first.flatMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let groups = header?["args_base64"] as? [[String]]
        #expect(groups?.first?.compactMap { Data(base64Encoded: $0).map { [UInt8]($0) } } == [a, b], "\(header ?? [:])")

        _ = FileManager.default.createFile(atPath: dir.file("go"), contents: nil)
        let r = await PPDash.run(["resume", journal, "--kill-orphans", "-j", "1"], directory: dir.path, timeout: 60)
        #expect(r.exitCode == 0, "\(r)")
        let ran = lines(fileBytes(dir.file("side")))
        #expect(ran.count == 3 && ran.filter { $0 == a }.count == 2 && ran.filter { $0 == b }.count == 1, "\(ran)")
    }

    @Test("a working directory and an --env value that are not UTF-8: tasks run there with the bytes, and resume too")
    func directoryAndEnvironment() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let sub = dir.path + "/" + word([0x64, 0xE9, 0x72])
        try #require(ByteText.withCString(sub) { mkdir($0, 0o700) } == 0, "cannot make the test directory")
        let real = try #require(ByteText.withCString(sub) { p in realpath(p, nil).map { r in
            defer { free(r) }
            return Array(UnsafeRawBufferPointer(start: r, count: strlen(r)))
        } })
        let value: [UInt8] = [0x76, 0xE9, 0xFF]
        let journal = dir.file("j.jsonl")
        let template = "test -e ok || exit 1; pwd -P | od -An -v -tx1 | tr -d ' \\n'; echo; printf %s \"$X\" | od -An -v -tx1 | tr -d ' \\n'; echo; : {}"
        let first = await PPDash.run(
            ["run", "--headless", "--env", "X", "--journal", journal, "--", template, ":::", "1"], env: ["X": word(value)],
            directory: sub, timeout: 30)
        #expect(first.exitCode == 1, "fails until ok exists: \(first)")
        #expect(!first.err.contains("cannot run"), "the task ran in the directory: \(first)")
        let okFile = ByteText.withCString(sub + "/ok") { open($0, O_CREAT | O_WRONLY, 0o600) }
        try #require(okFile >= 0)
        close(okFile)
        let r = await PPDash.run(["run", "--headless", "--env", "X", "--", template, ":::", "1"], env: ["X": word(value)], directory: sub, timeout: 30)
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.outLines == [hex(real + [0x0A]), hex(value)], "\(r)")
        // resume from elsewhere runs the failed task in the run's directory, with the variable's bytes.
        let resumed = await PPDash.run(["resume", journal], env: ["X": word(value)], directory: dir.path, timeout: 30)
        #expect(resumed.exitCode == 0, "\(resumed)")
        #expect(resumed.outLines == [hex(real + [0x0A]), hex(value)], "\(resumed)")
    }

    @Test("--journal with a path that is not UTF-8: one clear line, exit 2, no file under another name")
    func journalPathRefused() async {
        let dir = TempDir()
        defer { dir.remove() }
        let r = await PPDash.run(["run", "--journal", dir.path + "/" + word([0x6A, 0xE9]) + ".jsonl", "--", "true {}", ":::", "1"], timeout: 30)
        #expect(r.exitCode == 2, "\(r)")
        #expect(r.errLines.count == 1 && r.err.contains("must be UTF-8"), "\(r)")
        #expect(dir.contents.isEmpty, "\(dir.contents)")
    }

    @Test(
        "over ssh (a private sshd on loopback) the arguments' bytes reach the remote task exactly",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd"), "no /usr/sbin/sshd: install openssh-server"))
    func sshBytes() async throws {
        let bin = try #require(PPDash.path, Comment(rawValue: PPDash.notFound))
        let server = try await PrivateSSHD.start()
        defer { server.stop() }
        let r = await PPDash.run(
            [
                "run", "--headless", "--keep-order", "-e", "ssh:1/127.0.0.1:\(server.port)", "--ssh", "ssh -F \(server.clientConfig)",
                "--remote-ppdash", bin, "--", hexTemplate, ":::", word(highBytes), word(mixed),
            ], timeout: 60)
        #expect(r.exitCode == 0, "\(r)\n--- sshd log ---\n\(server.log)")
        #expect(r.outLines == [hex(highBytes), hex(mixed)], "\(r)")
    }
}
