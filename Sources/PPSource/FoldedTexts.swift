// The tasks' texts as one block of case-folded bytes: a `/` search over a million texts is one scan.
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Texts' UTF-8 bytes with ASCII letters folded to lower case, each text followed by a 0 byte, in task order.
///
/// A search for an ASCII needle (already lower case, no 0 byte) finds the same tasks `TaskFilter.contains` does:
/// that folds the text's ASCII letters only, and a match cannot cross a text's end (the needle holds no 0 byte).
struct FoldedTexts: Sendable {
    private(set) var bytes: [UInt8] = []
    /// Where each text's bytes end (its 0 byte's offset + 1).
    private(set) var ends: [Int] = []

    var count: Int { ends.count }

    /// Room for `texts` texts (as `KeyColumns.reserve`): the ends exactly, the bytes by the texts' mean length so
    /// far, a quarter more (a wrong guess only means a doubling later).
    mutating func reserve(texts: Int) {
        if texts > ends.capacity { ends.reserveCapacity(max(texts, 2 * ends.capacity)) }
        guard !ends.isEmpty else { return }
        let want = bytes.count / ends.count * texts / 4 * 5 + texts
        if want > bytes.capacity { bytes.reserveCapacity(max(want, 2 * bytes.capacity)) }
    }

    mutating func append(_ text: String) {
        let start = bytes.count
        var t = text
        t.withUTF8 { bytes.append(contentsOf: $0) }
        bytes.withUnsafeMutableBufferPointer { b in
            for k in start..<b.count where b[k] >= 0x41 && b[k] <= 0x5A { b[k] |= 0x20 }
        }
        bytes.append(0)
        ends.append(bytes.count)
    }

    /// Which texts contain `needle` (lower case), one flag per text; nil when the needle is not plain ASCII or holds a
    /// 0 byte (the caller then tests each text as `TaskFilter.contains` does).
    func matches(_ needle: String) -> [Bool]? {
        let n = Array(needle.utf8)
        guard n.allSatisfy({ $0 != 0 && $0 < 0x80 }) else { return nil }
        var out = [Bool](repeating: n.isEmpty, count: ends.count)
        guard !n.isEmpty, !bytes.isEmpty else { return out }
        bytes.withUnsafeBytes { h in
            ends.withUnsafeBufferPointer { e in
                n.withUnsafeBytes { nb in
                    out.withUnsafeMutableBufferPointer { o in
                        let base = h.baseAddress!
                        let needle = nb.baseAddress!
                        let first = Int32(n[0])
                        var from = 0
                        var task = 0
                        // Candidates by memchr on the first byte (vectorised in libc), each checked with memcmp.
                        while from + n.count <= h.count, task < e.count {
                            guard let p = memchr(base + from, first, h.count - from - n.count + 1) else { break }
                            let at = base.distance(to: UnsafeRawPointer(p))
                            if n.count > 1 && memcmp(base + at + 1, needle + 1, n.count - 1) != 0 {
                                from = at + 1
                                continue
                            }
                            while e[task] <= at { task += 1 }
                            o[task] = true
                            // The rest of this text cannot add anything: on from the next one.
                            from = e[task]
                            task += 1
                        }
                    }
                }
            }
        }
        return out
    }
}
