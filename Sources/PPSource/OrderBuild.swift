// An unfiltered sort order built a bounded number of rows at a time, in the upkeep steps between frames.
import PPKit

/// The unfiltered order of one sort key over tasks `0..<n`, built by `advance` calls of at most a given number of
/// rows each, so no upkeep step between frames holds a key typed meanwhile for a whole sort (a numeric order of a
/// million tasks took 10-35 ms in one step, the text order ~50 ms). A half-built order is never shown: it becomes
/// a ready order (`TableIndexCache.ready`) only when done, with the tasks changed meanwhile as its pending list.
///
/// The same result as `TableIndex.sortIndices` (stable: ties by index): numbers by an LSD radix sort whose phases
/// go a chunk of rows at a time (the values gathered; every pass's digit counts in one sweep; one scatter per pass
/// whose digit differs somewhere); text as `sortByText` does (the bytes all texts share, then 8 bytes of each as a
/// number radix-sorted, then each run of equal numbers checked in order and sorted by comparison where it is not).
/// Texts with a non-ASCII byte in their number are sorted by comparison in one step (`TableIndex.sortByText`).
struct OrderBuild: Sendable {
    let sort: SortKey
    /// Tasks covered: `0..<n`, as they were when the build started.
    let n: Int
    /// Tasks whose keys changed since the build started (the ready order's pending list once done); nil: too many.
    var pending: [Int32]? = []

    enum Phase: Sendable, Equatable {
        /// Numbers: each task's value (order-preserving unsigned), and their spread.
        case values
        /// Text: the bytes every text shares.
        case shared
        /// Text: 8 bytes of each text past the shared ones, as a number.
        case windows
        /// Every radix pass's digit counts, in one sweep.
        case counts
        /// One radix pass's scatter.
        case scatter(pass: Int)
        /// Text: runs of equal numbers checked in order (and sorted by comparison where not).
        case runs
        case done
    }
    private(set) var phase: Phase
    /// The next row of the phase.
    private var at = 0

    /// Task indices in their order so far, and each one's number (parallel): the radix sort's arrays and their
    /// scatter targets (reused from the last build: no fresh pages to fault in for each order).
    private var list: [Int32]
    private var keys: [UInt64]
    private var list2: [Int32]
    private var keys2: [UInt64]
    private var lo = UInt64.max
    private var hi = UInt64.min
    private var digitBits = 0
    private var passes = 0
    /// Per pass, the digit counts, then (once all are counted) each digit's next slot.
    private var counts: [Int] = []
    // Text only.
    private var head: [UInt8] = []
    private var shared = 0
    private var allASCII = true
    /// Where the current run of equal numbers starts.
    private var runStart = 0
    /// The run being sorted, if one was found out of order.
    private var runSort: RunSort?

    /// A text row costs this many rows of a step's budget (making its number reads its bytes: ~10x a key's value).
    static let textWeight = 4

    /// Arrays a finished build leaves, for the next one.
    struct Scratch: Sendable {
        var keys: [UInt64] = []
        var keys2: [UInt64] = []
        var list2: [Int32] = []
    }

    init(sort: SortKey, n: Int, scratch: Scratch?) {
        precondition(sort != .id, "the id order needs no build")
        self.sort = sort
        self.n = n
        var s = scratch ?? Scratch()
        // n rows each, every one written by a phase before it is read: only the rows added since the last build
        // are filled, and a first build's arrays are not cleared (their pages are touched a step at a time).
        func fit<T: FixedWidthInteger>(_ a: inout [T]) {
            if a.capacity < n {
                a = [T](unsafeUninitializedCapacity: n + n / 8) { _, count in count = n }
            } else if a.count > n {
                a.removeLast(a.count - n)
            } else if a.count < n {
                a.append(contentsOf: repeatElement(0, count: n - a.count))
            }
        }
        fit(&s.keys)
        fit(&s.keys2)
        fit(&s.list2)
        (keys, keys2, list2) = (s.keys, s.keys2, s.list2)
        list = Array(0..<Int32(n))
        phase = n == 0 ? .done : sort == .text ? .shared : .values
    }

    var isDone: Bool { phase == .done }

    /// The finished order, and the arrays left for the next build.
    consuming func finish() -> (order: [Int32], scratch: Scratch) {
        precondition(phase == .done)
        return (list, Scratch(keys: keys, keys2: keys2, list2: list2))
    }

    /// Goes on for at most `budget` rows (a text row or a comparison of two texts counts `textWeight`; a budget
    /// below `RunSort.blockCost` counts as that); returns whether done. `cost`: the rows' weight.
    mutating func advance<C: TaskColumns>(_ c: C, budget: Int, cost: inout Int) -> Bool {
        var left = max(RunSort.blockCost, budget)
        while left > 0 && phase != .done {
            switch phase {
            case .values:
                let end = min(n, at + left)
                let key = sort
                keys.withUnsafeMutableBufferPointer { k in
                    for i in at..<end {
                        let u = UInt64(bitPattern: TableIndex.value(c.key(i), i, key)) ^ (1 << 63)
                        k[i] = u
                        lo = min(lo, u)
                        hi = max(hi, u)
                    }
                }
                left -= end - at
                cost += end - at
                at = end
                if at == n { startRadix() }
            case .shared:
                if at == 0 {
                    head = Array(c.text(0).utf8)
                    shared = head.count
                }
                let end = min(n, at + left / Self.textWeight)
                if end == at { left = 0; break }
                for i in at..<end where shared > 0 {
                    var t = c.text(i)
                    shared = t.withUTF8 { b in
                        var k = 0
                        let m = min(shared, b.count)
                        while k < m && b[k] == head[k] { k += 1 }
                        return k
                    }
                }
                left -= (end - at) * Self.textWeight
                cost += (end - at) * Self.textWeight
                at = end
                if at == n { (phase, at) = (.windows, 0) }
            case .windows:
                let end = min(n, at + left / Self.textWeight)
                if end == at { left = 0; break }
                keys.withUnsafeMutableBufferPointer { k in
                    for i in at..<end {
                        let (w, ascii) = Self.window(c.text(i), from: shared)
                        k[i] = w
                        allASCII = allASCII && ascii
                        lo = min(lo, w)
                        hi = max(hi, w)
                    }
                }
                left -= (end - at) * Self.textWeight
                cost += (end - at) * Self.textWeight
                at = end
                guard at == n else { break }
                if !allASCII {
                    // Some text's number holds a non-ASCII byte: byte order is not `<` there; by comparison, at once.
                    TableIndex(sort: .text, filter: TaskFilter("")).sortByText(c, &list)
                    cost += n * Self.textWeight
                    left = 0
                    phase = .done
                } else {
                    startRadix()
                }
            case .counts:
                let end = min(n, at + left)
                let buckets = 1 << digitBits
                let mask = UInt64(buckets - 1)
                let (lo, digitBits, passes) = (lo, digitBits, passes)
                keys.withUnsafeBufferPointer { k in
                    counts.withUnsafeMutableBufferPointer { cnt in
                        for j in at..<end {
                            let v = k[j] &- lo
                            for p in 0..<passes { cnt[p * buckets + Int((v >> UInt64(p * digitBits)) & mask)] += 1 }
                        }
                    }
                }
                left -= end - at
                cost += end - at
                at = end
                if at == n {
                    // Each digit's first slot, per pass.
                    for p in 0..<passes {
                        var sum = 0
                        for d in p * buckets..<(p + 1) * buckets {
                            let x = counts[d]
                            counts[d] = sum
                            sum += x
                        }
                    }
                    nextPass(from: 0)
                }
            case .scatter(let pass):
                let end = min(n, at + left)
                let buckets = 1 << digitBits
                let mask = UInt64(buckets - 1)
                let shift = UInt64(pass * digitBits)
                let lo = lo
                keys.withUnsafeBufferPointer { k in
                    list.withUnsafeBufferPointer { l in
                        keys2.withUnsafeMutableBufferPointer { k2 in
                            list2.withUnsafeMutableBufferPointer { l2 in
                                counts.withUnsafeMutableBufferPointer { cnt in
                                    let base = pass * buckets
                                    for j in at..<end {
                                        let d = base + Int(((k[j] &- lo) >> shift) & mask)
                                        let to = cnt[d]
                                        cnt[d] = to + 1
                                        k2[to] = k[j]
                                        l2[to] = l[j]
                                    }
                                }
                            }
                        }
                    }
                }
                left -= end - at
                cost += end - at
                at = end
                if at == n {
                    swap(&keys, &keys2)
                    swap(&list, &list2)
                    nextPass(from: pass + 1)
                }
            case .runs:
                if var r = runSort {
                    // A run found out of order, sorted on from where the last step left it.
                    runSort = nil
                    guard r.advance(c, &list, &list2, keys, left: &left, cost: &cost) else {
                        runSort = r
                        left = 0
                        break
                    }
                    at = r.end
                    if at >= n {
                        phase = .done
                        break
                    }
                    runStart = at
                    at += 1
                    continue
                }
                // At `at`: is the task there in order after the one before? Equal numbers are equal first bytes.
                var p = at
                var spent = 0
                var found = false
                while p < n && spent + Self.textWeight <= left {
                    if keys[p] != keys[p - 1] {
                        runStart = p
                    } else {
                        let (a, b) = (list[p - 1], list[p])
                        let (x, y) = (c.text(Int(a)), c.text(Int(b)))
                        if !(x == y ? a < b : x < y) {
                            found = true
                            break
                        }
                    }
                    spent += Self.textWeight
                    p += 1
                }
                left -= spent
                cost += spent
                at = p
                if found {
                    runSort = RunSort(start: runStart, end: p + 1)
                } else if at >= n {
                    phase = .done
                } else {
                    left = 0
                }
            case .done:
                break
            }
        }
        return phase == .done
    }

    /// After the numbers: the digits (at most 11 bits, over their spread only), or done when all are equal.
    private mutating func startRadix() {
        at = 0
        guard lo < hi else { return finishNumbers() }
        let bits = 64 - (hi - lo).leadingZeroBitCount
        passes = (bits + 10) / 11
        digitBits = (bits + passes - 1) / passes
        counts = [Int](repeating: 0, count: passes << digitBits)
        phase = .counts
    }

    /// The next pass whose digit differs somewhere (a pass that would move nothing is skipped), or the end.
    private mutating func nextPass(from pass: Int) {
        at = 0
        let buckets = 1 << digitBits
        var p = pass
        // A digit whose first slot is 0 and the next digit's is n (or it is the last) holds every task.
        while p < passes {
            let d = Int(((keys[0] &- lo) >> UInt64(p * digitBits)) & UInt64(buckets - 1))
            let base = p * buckets
            // Slots are first slots until the pass runs; a pass not yet run still has them.
            let next = d + 1 < buckets ? counts[base + d + 1] : n
            if !(counts[base + d] == 0 && next == n) { break }
            p += 1
        }
        if p < passes {
            phase = .scatter(pass: p)
        } else {
            finishNumbers()
        }
    }

    private mutating func finishNumbers() {
        at = 0
        if sort == .text && n > 1 {
            (phase, at, runStart) = (.runs, 1, 0)
        } else {
            phase = .done
        }
    }

    /// 8 UTF-8 bytes of `s` from byte `from` as a big-endian number (zero-padded past its end), and whether they are
    /// all ASCII (as `TableIndex.window`, read from the contiguous bytes).
    static func window(_ s: String, from: Int) -> (UInt64, Bool) {
        var s = s
        return s.withUTF8 { b in
            var v: UInt64 = 0
            var ascii = true
            let end = min(b.count, from + 8)
            var k = from
            while k < end {
                let x = b[k]
                if x >= 0x80 { ascii = false }
                v = v << 8 | UInt64(x)
                k += 1
            }
            let taken = max(0, end - from)
            return (taken == 0 ? 0 : v << (8 * UInt64(8 - taken)), ascii)
        }
    }
}

/// A run of equal numbers (texts whose first bytes past the shared ones are equal) found out of order, sorted by
/// comparison in bounded steps: its end found, blocks of `block` rows sorted, then merged pairwise (bottom-up),
/// alternating between `list` and `list2` and ending in `list`. A long run (an outlier text made the shared bytes
/// few, e.g. a thousand `x longword_N`) thus never takes a whole sort in one step.
struct RunSort: Sendable {
    let start: Int
    /// The run's end, as found so far while `scanning`.
    private(set) var end: Int
    private var scanning = true
    /// 0 while blocks are sorted; then the merge's width.
    private var width = 0
    /// The pair of blocks merged (from `s`), its middle and end, the heads of its halves and the next slot written.
    private var s = 0, mid = 0, hi = 0, i = 0, j = 0, k = 0
    /// Where the rows are now: `list` (else `list2`).
    private var inList = true

    static let block = 32
    /// A block's sort, counted as its comparisons (block x log2 block) of `textWeight` each.
    static let blockCost = block * 5 * OrderBuild.textWeight

    init(start: Int, end: Int) {
        self.start = start
        self.end = end
    }

    /// Goes on while `left` lasts; true when the run is sorted (in `list`).
    mutating func advance<C: TaskColumns>(
        _ c: C, _ list: inout [Int32], _ list2: inout [Int32], _ keys: [UInt64], left: inout Int, cost: inout Int
    ) -> Bool {
        func less(_ a: Int32, _ b: Int32) -> Bool {
            let (x, y) = (c.text(Int(a)), c.text(Int(b)))
            return x == y ? a < b : x < y
        }
        let w = OrderBuild.textWeight
        while left > 0 {
            if scanning {
                let key = keys[start]
                while end < keys.count && left > 0 && keys[end] == key {
                    end += 1
                    left -= 1
                    cost += 1
                }
                if end < keys.count && keys[end] == key { return false }
                scanning = false
                // Blocks go where an even number of merge passes leaves the rows in `list`.
                var passes = 0
                var wide = Self.block
                while wide < end - start {
                    wide *= 2
                    passes += 1
                }
                inList = passes % 2 == 0
                s = start
                continue
            }
            if width == 0 {
                if s >= end {
                    width = Self.block
                    if width >= end - start { return true }
                    startPair(start)
                    continue
                }
                guard left >= Self.blockCost else { return false }
                let e = min(s + Self.block, end)
                if inList {
                    list[s..<e].sort(by: less)
                } else {
                    let sorted = list[s..<e].sorted(by: less)
                    list2.replaceSubrange(s..<e, with: sorted)
                }
                left -= Self.blockCost
                cost += Self.blockCost
                s = e
                continue
            }
            // One merge step: the pair's next row, from the half whose head comes first (the left on ties: stable).
            guard left >= w else { return false }
            if inList {
                let takeLeft = i < mid && (j >= hi || !less(list[j], list[i]))
                list2[k] = takeLeft ? list[i] : list[j]
                if takeLeft { i += 1 } else { j += 1 }
            } else {
                let takeLeft = i < mid && (j >= hi || !less(list2[j], list2[i]))
                list[k] = takeLeft ? list2[i] : list2[j]
                if takeLeft { i += 1 } else { j += 1 }
            }
            k += 1
            left -= w
            cost += w
            if k == hi {
                if hi >= end {
                    // The pass is done: the rows are in the other array, in runs twice as long.
                    inList.toggle()
                    width *= 2
                    if width >= end - start {
                        precondition(inList, "an even number of passes ends in list")
                        return true
                    }
                    startPair(start)
                } else {
                    startPair(hi)
                }
            }
        }
        return false
    }

    private mutating func startPair(_ from: Int) {
        s = from
        mid = min(s + width, end)
        hi = min(s + 2 * width, end)
        (i, j, k) = (s, mid, s)
    }
}
