import Testing

@testable import PPKit

@Suite("Engine specs")
struct EngineSpecTests {
    func parse(_ s: String) throws(PPError) -> [EngineSpec] { try EngineSpec.parseList(s, defaultCount: 8) }

    @Test("the forms of -e")
    func forms() throws {
        #expect(try parse("4") == [.local(count: 4)])
        #expect(try parse("local:4") == [.local(count: 4)])
        #expect(try parse("local") == [.local(count: 8)])
        #expect(try parse("proc:2") == [.proc(count: 2)])
        #expect(try parse("proc") == [.proc(count: 8)])
        #expect(try parse("ssh:4/node7") == [.ssh(count: 4, login: SSHLogin(host: "node7"))])
        #expect(try parse("ssh:node7") == [.ssh(count: 1, login: SSHLogin(host: "node7"))])
        #expect(
            try parse("ssh:2/bob@node7:2222") == [
                .ssh(count: 2, login: SSHLogin(user: "bob", host: "node7", port: 2222))
            ])
        #expect(try parse("ssh://bob@10.0.0.1") == [.ssh(count: 1, login: SSHLogin(user: "bob", host: "10.0.0.1"))])
        #expect(try parse("ssh:3/[::1]:22") == [.ssh(count: 3, login: SSHLogin(host: "::1", port: 22))])
        #expect(try parse("listen") == [.listen(port: 0)])
        #expect(try parse("listen:7000") == [.listen(port: 7000)])
        #expect(try parse("local:2, proc:2,listen:9") == [.local(count: 2), .proc(count: 2), .listen(port: 9)])
    }

    @Test("kinds and descriptions")
    func kinds() throws {
        let specs = try parse("2,proc:3,ssh:4/u@h:22,listen:7")
        #expect(specs.map(\.kind) == [.local, .proc, .ssh, .connected])
        #expect(specs.map(\.description) == ["local:2", "proc:3", "ssh:4/u@h:22", "listen:7"])
        #expect(SSHLogin(host: "::1", port: 22).description == "[::1]:22")
    }

    @Test("bad specs say what is wrong and what to write")
    func errors() {
        func message(_ s: String) -> String {
            do throws(PPError) {
                _ = try parse(s)
                return "accepted"
            } catch { return error.message }
        }
        #expect(
            message("gpu:4")
                == "unknown engine spec 'gpu:4': use N, local:N, proc:N, ssh:N/[user@]host[:port], listen[:PORT] or slurm:N")
        #expect(message("proc:0").hasPrefix("bad engine count '0' in 'proc:0'"))
        #expect(message("local:x").hasPrefix("bad engine count 'x'"))
        #expect(message("0").hasPrefix("bad engine count '0'"))
        #expect(message("ssh:").contains("names no host"))
        #expect(message("ssh:4/").contains("bad host ''"))
        #expect(message("ssh:2/h:99999").contains("bad ssh port '99999'"))
        #expect(message("listen:http").contains("bad port 'http'"))
        #expect(message("listen,listen:8").hasPrefix("more than one listen spec"))
        #expect(message("2,,3").hasPrefix("empty engine spec"))
        // `ssh:2` reads as the host "2" and hung 30 s: refused with the form to write.
        #expect(message("ssh:2") == "engine spec 'ssh:2' names no host: use ssh:N/HOST for N engines on HOST, e.g. ssh:2/node1")
        #expect(message("local:1,ssh:16").contains("ssh:N/HOST"))
        #expect(message("ssh:2/node1") == "accepted")
        #expect(message("ssh:node1") == "accepted")
    }

    @Test("--ssh words split as sh splits them")
    func sshWords() throws {
        #expect(try splitCommandWords("ssh -F my_config") == ["ssh", "-F", "my_config"])
        #expect(
            try splitCommandWords("ssh -F '/tmp/a b/config' -o \"ProxyJump=x y\"") == [
                "ssh", "-F", "/tmp/a b/config", "-o", "ProxyJump=x y",
            ])
        #expect(try splitCommandWords("  a\\ b  '' c") == ["a b", "", "c"])
        #expect(throws: PPError.self) { try splitCommandWords("ssh 'open") }
    }

    @Test("the ssh command line: batch mode, no tty, port, quoted remote ppdash")
    func sshArguments() {
        var o = EngineLaunchOptions()
        o.sshCommand = ["ssh", "-F", "cfg"]
        o.remotePPDash = "/opt/pp dash/ppdash"
        let argv = EngineLauncher.sshArguments(login: SSHLogin(user: "bob", host: "node7", port: 2222), options: o)
        #expect(
            argv == [
                "ssh", "-F", "cfg", "-T", "-o", "BatchMode=yes", "-p", "2222", "bob@node7", "--",
                "'/opt/pp dash/ppdash' engine --stdio",
            ])
    }
}
