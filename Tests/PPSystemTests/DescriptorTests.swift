import Glibc
import PPSystem
import Testing

@Suite("Owned descriptors")
struct DescriptorTests {
    @Test("pipes, eventfds, opens and duplicates are close-on-exec and numbered above stdio")
    func closeOnExec() throws {
        let p = try OwnedDescriptor.pipe()
        let (pr, pw) = (p.read.isCloseOnExec, p.write.isCloseOnExec)
        #expect(pr && pw)
        let (r, w) = (p.read.raw, p.write.raw)
        #expect(r > 2 && w > 2)
        let e = try OwnedDescriptor.eventFD().isCloseOnExec
        #expect(e)
        let n = try OwnedDescriptor.open("/dev/null", .readOnly).isCloseOnExec
        #expect(n)
        let d = try OwnedDescriptor.duplicate(0)
        let (dc, dr) = (d.isCloseOnExec, d.raw)
        #expect(dc && dr >= 3)
    }

    @Test("closed exactly once: when its owner ends, or at release never")
    func closedOnce() throws {
        var raw: Int32 = -1
        do {
            let p = try OwnedDescriptor.pipe()
            raw = p.read.raw
            #expect(isOpen(raw))
        }
        #expect(!isOpen(raw))
        let q = try OwnedDescriptor.pipe()
        let kept = q.read.release()
        #expect(isOpen(kept))
        close(kept)
    }

    @Test("an open that fails throws its errno")
    func typedError() {
        #expect(throws: Errno.noSuchFileOrDirectory) { _ = try OwnedDescriptor.open("/no/such/file", .readOnly).raw }
    }
}
