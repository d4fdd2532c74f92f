// Picking an engine without a scan: the engines note every change, and the picker keeps the free ones in a heap
// (least load, then least recently used) and in a plain list (uniform picks), brought up to date with the changed
// engines only. A dispatch costs O(log engines) whatever the engine count (ipyparallel's schemes kept).

/// The scheduler's engines, indexed by id; every change through the subscript is noted for the picker.
struct EngineTable: RandomAccessCollection {
    private(set) var slots: [EngineSlot] = []
    /// Engines changed since the picker last looked, each once.
    private(set) var dirty: [Int] = []
    private var isDirty: [Bool] = []
    /// Engines per state, kept as slots change (the dashboard reads these, not every slot).
    private(set) var counts = EngineCounts()

    init() {}

    var startIndex: Int { 0 }
    var endIndex: Int { slots.count }

    subscript(i: Int) -> EngineSlot {
        // A read projects the slot in place: `engines[e].lru` copies nothing (a copy retained every reference the
        // slot holds, twice per dispatch).
        _read { yield slots[i] }
        _modify {
            let before = kind(i)
            yield &slots[i]
            counts.move(before, kind(i))
            if !isDirty[i] {
                isDirty[i] = true
                dirty.append(i)
            }
        }
    }

    /// Slot `i`'s counter, its fields read in place through the buffer (`slots[i].alive` in `_modify` was compiled
    /// as a copy of the whole slot per field read: 30 slot copies per task; `Kind(slots[i])` copied it once).
    @inline(__always) private func kind(_ i: Int) -> EngineCounts.Kind {
        slots.withUnsafeBufferPointer { p in
            EngineCounts.Kind(
                EngineCounts.Kind.Life(alive: p[i].alive, deathReason: p[i].deathReason), excluded: p[i].excluded,
                held: p[i].held, draining: p[i].draining, busy: p[i].current != nil)
        }
    }

    mutating func append(_ e: EngineSlot) {
        slots.append(e)
        counts.total += 1
        counts.add(EngineCounts.Kind(e), 1)
        isDirty.append(true)
        dirty.append(slots.count - 1)
    }

    /// Hands the engines changed since the last call to `buffer` (which must be empty), forgotten as changed. The
    /// two lists trade places: no array is made on the dispatch path (a copy and a fresh buffer here cost ~700
    /// instructions under the scheduler's lock per dispatch, two dispatch syncs per completed task).
    mutating func takeDirty(into buffer: inout [Int]) {
        guard !dirty.isEmpty else { return }
        swap(&dirty, &buffer)
        for e in buffer { isDirty[e] = false }
    }

    /// Every engine marked changed (the picker starts over, e.g. when the scheme changes).
    mutating func markAllDirty() {
        for e in slots.indices where !isDirty[e] {
            isDirty[e] = true
            dirty.append(e)
        }
    }
}

/// The engines with spare capacity, ordered for the scheme: a min-heap by (load, least recently used) for
/// least-load (by recency alone for lru), and a list for the random schemes.
struct EnginePicker {
    /// Free engines (capacity > 0), in no order.
    private(set) var free: [Int] = []
    /// Where each engine sits in `free`, or -1.
    private var freePos: [Int] = []
    /// Free engines that cannot run Swift closures (a closure task then picks among the others by a scan).
    private(set) var freeRemote = 0
    /// Free engines as a min-heap by `key`.
    private var heap: [Int] = []
    private var heapPos: [Int] = []
    /// Each engine's key as the heap holds it: (assigned tasks, or 0 for lru; last use; id).
    private var keys: [(load: Int, lru: Int)] = []
    /// The heap orders by load first (least-load); else by recency alone (every other scheme).
    private(set) var byLoad = true
    /// The changed engines being taken in (kept to reuse its buffer).
    private var changed: [Int] = []
    /// Engines looked at while picking (heap steps, list entries, scans): the work dispatch spends on engines.
    var examined = 0
    /// Tasks assigned to engines (by any path): what `examined` is divided by.
    var assignments = 0
    /// Tasks handed back to the engine finishing the one before, started under the same lock (no wake-up).
    var handedBack = 0
    /// Syncs that took changed engines in: about one per completed task on the hand-back path (a test counts it).
    var syncs = 0

    @inline(__always) private func less(_ a: Int, _ b: Int) -> Bool {
        let (x, y) = (keys[a], keys[b])
        if x.load != y.load { return x.load < y.load }
        if x.lru != y.lru { return x.lru < y.lru }
        return a < b
    }

    /// Takes in the engines changed since the last sync; with another scheme the heap is rebuilt.
    mutating func sync(_ engines: inout EngineTable, scheme: Scheme) {
        let wantLoad = scheme == .leastLoad
        if wantLoad != byLoad {
            byLoad = wantLoad
            engines.markAllDirty()
        }
        engines.takeDirty(into: &changed)
        guard !changed.isEmpty else { return }
        syncs += 1
        for e in changed { update(e, engines) }
        // Emptied from the end: `removeAll(keepingCapacity:)` took ~90 instructions per call (a generic replace),
        // twice per task, for the one or two engines a completion changes.
        while changed.popLast() != nil {}
    }

    private mutating func update(_ e: Int, _ engines: borrowing EngineTable) {
        while freePos.count <= e {
            freePos.append(-1)
            heapPos.append(-1)
            keys.append((0, 0))
        }
        let isFree = engines[e].capacity > 0
        let runsClosures = engines[e].runsClosures
        // The free list.
        if isFree && freePos[e] < 0 {
            freePos[e] = free.count
            free.append(e)
            if !runsClosures { freeRemote += 1 }
        } else if !isFree && freePos[e] >= 0 {
            let p = freePos[e]
            let last = free.removeLast()
            if last != e {
                free[p] = last
                freePos[last] = p
            }
            freePos[e] = -1
            if !runsClosures { freeRemote -= 1 }
        }
        // The heap.
        keys[e] = (byLoad ? engines[e].assigned.count : 0, engines[e].lru)
        if isFree {
            if heapPos[e] < 0 {
                heapPos[e] = heap.count
                heap.append(e)
                siftUp(heap.count - 1)
            } else {
                siftDown(siftUp(heapPos[e]))
            }
        } else if heapPos[e] >= 0 {
            let p = heapPos[e]
            let last = heap.removeLast()
            heapPos[e] = -1
            if last != e {
                heap[p] = last
                heapPos[last] = p
                siftDown(siftUp(p))
            }
        }
    }

    @discardableResult
    private mutating func siftUp(_ start: Int) -> Int {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            examined += 1
            guard less(heap[i], heap[parent]) else { break }
            swapAt(i, parent)
            i = parent
        }
        return i
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1
            guard l < heap.count else { return }
            var m = l
            examined += 1
            if l + 1 < heap.count && less(heap[l + 1], heap[l]) { m = l + 1 }
            guard less(heap[m], heap[i]) else { return }
            swapAt(i, m)
            i = m
        }
    }

    private mutating func swapAt(_ i: Int, _ j: Int) {
        heap.swapAt(i, j)
        heapPos[heap[i]] = i
        heapPos[heap[j]] = j
    }

    /// The engine the scheme picks among the free ones (there is one).
    /// Least-load and lru read the heap's top; random and two-bin draw from the list; weighted (rare) scans.
    mutating func pick(_ scheme: Scheme, rng: inout SplitMix64, engines: EngineTable) -> Int {
        switch scheme {
        case .leastLoad, .lru:
            examined += 1
            return heap[0]
        case .random:
            examined += 1
            return free[Int.random(in: 0..<free.count, using: &rng)]
        case .twoBin:
            // Two uniform picks, the least recently used wins: as ipyparallel's min of two indices in LRU order.
            let a = free[Int.random(in: 0..<free.count, using: &rng)]
            let b = free[Int.random(in: 0..<free.count, using: &rng)]
            examined += 2
            return engines[a].lru <= engines[b].lru ? a : b
        case .weighted:
            examined += free.count
            let ordered = free.sorted { engines[$0].lru < engines[$1].lru }
            return ordered[scheme.choose(loads: ordered.map { engines[$0].assigned.count }, using: &rng)]
        }
    }
}

extension Scheduler {
    /// Tasks assigned so far and engines examined to place them: dispatch's work per task, counted (it stays flat
    /// from 4 to 1,000 engines; a test and the benchmark read it).
    public var dispatchWork: (assignments: Int, enginesExamined: Int) {
        state.withLock { ($0.picker.assignments, $0.picker.examined) }
    }

    /// Tasks an engine took back as it reported the one before finished, with no wake-up and no second lock: nearly
    /// every task of a no-op batch on in-process engines (a test counts it; losing it costs most of the no-op rate).
    public var handedBack: Int { state.withLock { $0.picker.handedBack } }
}
