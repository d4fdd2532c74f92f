import Algorithms
import Foundation
import PPKit
import PPSource

/// Busy time of one engine: lifetime total and 5-second buckets for the last minute.
struct BusyTracker: Sendable {
    static let bucket: Int64 = 5_000_000
    private(set) var since: Int64?
    private(set) var total: Int64 = 0
    private var buckets: [Int64: Int64] = [:]

    mutating func setBusy(_ busy: Bool, at now: Int64) {
        if busy {
            if since == nil { since = now }
        } else if let s = since {
            add(s, max(s, now))
            since = nil
        }
    }

    private mutating func add(_ a: Int64, _ b: Int64) {
        total += b - a
        var t = a
        while t < b {
            let k = t / Self.bucket
            let end = min(b, (k + 1) * Self.bucket)
            buckets[k, default: 0] += end - t
            t = end
        }
        let oldest = b / Self.bucket - 13
        if buckets.count > 16 { buckets = buckets.filter { $0.key >= oldest } }
    }

    /// Busy fraction per bucket, oldest first, the current (partial) bucket last.
    func activity(now: Int64) -> [Double] {
        let current = now / Self.bucket
        return (0..<12).map { n -> Double in
            let k = current - 11 + Int64(n)
            var busy = buckets[k] ?? 0
            let start = k * Self.bucket
            let end = min(now, (k + 1) * Self.bucket)
            if let s = since, s < end { busy += end - max(s, start) }
            let span = max(1, end - start)
            return min(1, max(0, Double(busy) / Double(span)))
        }
    }

    func busyTotal(now: Int64) -> Int64 { total + (since.map { max(0, now - $0) } ?? 0) }
}

/// A mirror of one ipyparallel cluster: engines, task rows and batches, fed by hub replies, IOPub and notifications.
///
/// Pure state with no threads or sockets, so it is tested directly; `IPPSource` keeps one behind a lock.
/// Why a row's call is not known (`--json`'s `record`): its hub record not fetched yet, or the hub no longer holds it.
public enum RecordState: String, Sendable {
    case pending, dropped
}

public struct IPPMirror: Sendable {
    /// One engine as the hub announced it.
    public struct Engine: Sendable {
        public var id: Int
        public var uuid: String
        public var alive: Bool
        public var deathReason: String?
        var created: Int64
        /// The row it runs, when known (IOPub `busy`, else the first task the hub assigned it).
        var current: Int?
        /// Rows the hub lists as assigned to it and not finished.
        var assigned: [Int] = []
        var done = 0
        var failed = 0
        var busy = BusyTracker()
    }

    /// One task.
    public struct Row: Sendable {
        public var msgId: String
        public var batch: Int
        public var seq: Int
        public var session: String?
        public var label: String?
        public var queue: String?
        public var engineUUID: String?
        public var engine: Int?
        public var status: TaskStatus = .pending
        public var submitted: Timestamp
        public var started: Timestamp?
        public var completed: Timestamp?
        public var received: Timestamp?
        public var text: String
        public var function: String?
        public var isMapChunk = false
        public var args: [String] = []
        public var stdout = ""
        public var stderr = ""
        public var error: String?
        public var exitStatus: Int32?
        public var signal: Int32?
        public var result: PickleValue?
        public var resultNote: String?
        /// Submitted from this ppdash (so it can be retried).
        public var ours = false
        public var command: String?
        public var retries = 0
        /// Running according to IOPub (`busy` seen, `idle` not yet).
        var ioBusy = false
        /// Finished according to IOPub alone (`idle` seen, no hub record or reply yet): the record confirms or
        /// corrects the status (an aborted task also goes busy then idle); a later `busy` means a retry.
        var ioFinished = false
        /// An IOPub `error` message arrived for the current attempt.
        var ioError = false
        /// First seen on IOPub, and the hub's record (call, label, result) not fetched yet.
        public internal(set) var recordPending = false
        /// Asked for by msg_id and not returned: the hub dropped its record (DictDB keeps its newest 1024).
        public internal(set) var recordGone = false

        /// Why the call is not known; nil when it is.
        public var recordState: RecordState? {
            guard text == msgId, function == nil else { return nil }
            if recordPending { return .pending }
            if recordGone { return .dropped }
            return nil
        }

        /// The call for display: what is not known yet says so rather than show the msg_id as a call.
        public var callText: String {
            switch recordState {
            case .pending: "(record pending)"
            case .dropped: "(no record: the hub dropped it)"
            case nil: text
            }
        }
    }

    /// Tasks of one client session submitted in one burst, or sharing a label.
    public struct Batch: Sendable {
        public var id: Int
        public var label: String
        public var session: String?
        public var counts = StatusCounts()
        public var first: Timestamp
        public var last: Timestamp
        public var lastReceived: Timestamp?
        public var size = 0
        /// False while the label is a stand-in (tasks first seen on IOPub, before their record names the call).
        var named = true
    }

    /// Output kept per stream and task.
    public static let maxOutput = 256 * 1024
    /// Submissions of one session further apart than this start a new batch.
    public var burstGap: Double = 1.0

    public private(set) var engines: [Int: Engine] = [:]
    public private(set) var rows: [Row] = []
    public private(set) var batches: [Batch] = []
    public private(set) var totals = StatusCounts()
    public private(set) var generation: UInt64 = 0
    private var index: [String: Int] = [:]
    private var retired: Set<String> = []
    private var uuidToEngine: [String: Int] = [:]
    private var sessionBatch: [String: Int] = [:]
    /// One copy of each session id, shared by its rows (a client's tasks all carry the same 36 characters).
    private var sessionNames: [String: String] = [:]
    private var labelBatch: [String: Int] = [:]
    /// Each session's newest labelled batch.
    private var labelledBurst: [String: Int] = [:]
    /// Rows first seen on IOPub, in order, whose record may still be pending (those at the front whose record came
    /// are dropped as the queue is read).
    private var recordQueue: [Int] = []
    private var recordQueueHead = 0
    /// Rows whose record is pending.
    public private(set) var recordBacklog = 0
    /// Rows created from IOPub alone, ever (the flood's rate, for `RecordBudget`).
    public private(set) var ioRowsCreated = 0
    /// IOPub news about tasks not yet known (the hub query has not seen them yet).
    private var earlyIO: [String: [IOEvent]] = [:]
    private var newestStarted = -1
    private var completions: [Int64] = []
    /// Newest `submitted` and `received` seen: the cutoffs of the next incremental queries.
    public private(set) var maxSubmitted: Timestamp?
    public private(set) var maxReceived: Timestamp?
    /// Why the controller is gone (stopped, or silent too long), while it is: every engine shows as dead with this
    /// reason, and nothing can be submitted. Nil while it answers.
    public private(set) var controllerGone: String?
    /// Record changed rows and engines for `--follow`.
    public var trackChanges = false
    private(set) var changedRows: Set<Int> = []
    private(set) var changedEngines: Set<Int> = []
    let startedAt: Timestamp

    public init(now: Timestamp) { startedAt = now }

    public var taskCount: Int { rows.count }
    public func row(msgId: String) -> Row? { index[msgId].map { rows[$0] } }
    public func rowIndex(msgId: String) -> Int? { index[msgId] }
    public func row(at i: Int) -> Row { rows[i] }

    /// Which of `ids` this mirror has never seen.
    public func unknown(_ ids: [String]) -> [String] {
        ids.filter { index[$0] == nil && !retired.contains($0) }
    }

    private mutating func touch(row i: Int) {
        generation &+= 1
        if trackChanges { changedRows.insert(i) }
    }
    private mutating func touch(engine id: Int) {
        generation &+= 1
        if trackChanges { changedEngines.insert(id) }
    }

    /// Marks the mirror changed (a notice for the header), so readers redraw.
    public mutating func bump() { generation &+= 1 }

    /// Whether a row or an engine changed since the last `drainChanges` (with `trackChanges`).
    public var hasChanges: Bool { !changedRows.isEmpty || !changedEngines.isEmpty }

    /// Rows and engines changed since the last call (with `trackChanges`).
    public mutating func drainChanges() -> (rows: [Int], engines: [Int]) {
        defer {
            changedRows.removeAll(keepingCapacity: true)
            changedEngines.removeAll(keepingCapacity: true)
        }
        return (changedRows.sorted(), changedEngines.sorted())
    }

    // MARK: engines

    /// The live engines of a `connection_reply`: new ones join, known ones missing from it are dead.
    public mutating func setLiveEngines(_ live: [Int: String], now: Timestamp) {
        for (id, uuid) in live { engineRegistered(id: id, uuid: uuid, now: now) }
        for id in engines.keys where live[id] == nil && engines[id]!.alive {
            engineUnregistered(id: id, reason: "unregistered", now: now)
        }
    }

    /// `registration_notification`, or an engine seen for the first time.
    public mutating func engineRegistered(id: Int, uuid: String, now: Timestamp) {
        if var e = engines[id], e.alive, e.uuid == uuid || uuid.isEmpty {
            if e.uuid.isEmpty && !uuid.isEmpty {
                e.uuid = uuid
                uuidToEngine[uuid] = id
                engines[id] = e
                touch(engine: id)
            }
            return
        }
        engines[id] = Engine(id: id, uuid: uuid, alive: true, created: now.microseconds)
        if !uuid.isEmpty { uuidToEngine[uuid] = id }
        touch(engine: id)
    }

    /// `unregistration_notification` (or missing from `connection_reply`): the engine is dead; the hub fails its
    /// running task a few seconds later (EngineError), which the next query shows.
    public mutating func engineUnregistered(id: Int, reason: String = "unregistered", now: Timestamp) {
        guard var e = engines[id], e.alive else { return }
        e.alive = false
        e.deathReason = reason
        e.busy.setBusy(false, at: now.microseconds)
        if let r = e.current, !rows[r].status.isFinished {
            e.deathReason = reason + " while running task \(r + 1)"
        }
        e.current = nil
        engines[id] = e
        touch(engine: id)
    }

    /// Outstanding tasks the hub has sent to an engine (`engine_uuid` set, `completed` null), in submission order.
    public mutating func applyAssigned(_ pairs: [(msgId: String, engineUUID: String)], now: Timestamp) {
        var byEngine: [Int: [Int]] = [:]
        for p in pairs {
            guard let eid = uuidToEngine[p.engineUUID], let r = index[p.msgId], !rows[r].status.isFinished else {
                continue
            }
            byEngine[eid, default: []].append(r)
        }
        for eid in engines.keys.sorted() {
            let rowsNow = byEngine[eid] ?? []
            for r in rowsNow where rows[r].engine != eid {
                rows[r].engine = eid
                rows[r].engineUUID = engines[eid]?.uuid
                touch(row: r)
            }
            guard var e = engines[eid] else { continue }
            if e.assigned != rowsNow {
                e.assigned = rowsNow
                engines[eid] = e
                touch(engine: eid)
            }
            guard e.alive else { continue }
            // Without IOPub news, the first assigned task is the one running (the scheduler's hwm is 1 by default).
            let running =
                rowsNow.first { rows[$0].ioBusy } ?? e.current.flatMap { rowsNow.contains($0) ? $0 : nil }
                ?? rowsNow.first
            if let r = running {
                if rows[r].status == .pending { setStatus(r, .running, now: now) }
                setCurrent(eid, r, now: now)
            } else if let c = e.current, !rows[c].ioBusy {
                setCurrent(eid, nil, now: now)
            }
        }
    }

    private mutating func setCurrent(_ eid: Int, _ r: Int?, now: Timestamp) {
        guard var e = engines[eid], e.current != r else { return }
        e.current = r
        e.busy.setBusy(r != nil && e.alive, at: now.microseconds)
        engines[eid] = e
        touch(engine: eid)
    }

    // MARK: tasks

    private mutating func setStatus(_ r: Int, _ s: TaskStatus, now: Timestamp) {
        let old = rows[r].status
        guard old != s else { return }
        rows[r].status = s
        totals[old] -= 1
        totals[s] += 1
        let b = rows[r].batch - 1
        batches[b].counts[old] -= 1
        batches[b].counts[s] += 1
        if s == .running {
            if r > newestStarted { newestStarted = r }
        }
        if s.isFinished && !old.isFinished {
            completions.append(now.microseconds)
            if completions.count > 4096 { completions.removeFirst(2048) }
            if let rec = rows[r].received ?? Optional(now) {
                if batches[b].lastReceived.map({ rec > $0 }) ?? true { batches[b].lastReceived = rec }
            }
            if let eid = rows[r].engine, var e = engines[eid] {
                if s == .ok { e.done += 1 } else { e.failed += 1 }
                e.assigned.removeAll { $0 == r }
                engines[eid] = e
                if e.current == r { setCurrent(eid, nil, now: now) }
                touch(engine: eid)
            }
        }
        touch(row: r)
    }

    private mutating func intern(_ session: String?) -> String? {
        guard let session else { return nil }
        if let known = sessionNames[session] { return known }
        sessionNames[session] = session
        return session
    }

    /// The batch a new foreign task joins: same label, else the same session's current burst.
    private mutating func batchFor(
        session: String?, label: String?, submitted: Timestamp, name: String, named: Bool = true
    ) -> Int {
        let key = session ?? ""
        func inBurst(_ b: Int) -> Bool {
            let x = batches[b - 1]
            return submitted.seconds >= x.first.seconds - burstGap && submitted.seconds <= x.last.seconds + burstGap
        }
        if let label, !label.isEmpty {
            if let b = labelBatch[label] { return b }
            // Tasks of this burst first seen on IOPub wait in an unnamed batch: the label names it (one batch, not
            // two, for one labelled submission).
            if let b = sessionBatch[key], !batches[b - 1].named, inBurst(b) {
                batches[b - 1].label = label
                batches[b - 1].named = true
                labelBatch[label] = b
                labelledBurst[key] = b
                bump()
                return b
            }
            let b = newBatch(label: label, session: session, at: submitted)
            labelBatch[label] = b
            labelledBurst[key] = b
            return b
        }
        // A task first seen on IOPub (its label unknown yet) joins its session's labelled batch of the same burst.
        if !named, let b = labelledBurst[key], inBurst(b) { return b }
        if let b = sessionBatch[key] {
            let x = batches[b - 1]
            if submitted.seconds >= x.first.seconds - burstGap && submitted.seconds <= x.last.seconds + burstGap {
                return b
            }
        }
        let b = newBatch(label: name, session: session, at: submitted, named: named)
        sessionBatch[key] = b
        return b
    }

    private mutating func newBatch(label: String, session: String?, at t: Timestamp, named: Bool = true) -> Int {
        let id = batches.count + 1
        batches.append(Batch(id: id, label: label, session: session, first: t, last: t, named: named))
        return id
    }

    /// A batch opened for tasks first seen on IOPub takes its name from the first record that names the call: its
    /// label (which then groups later tasks with that label too), else the function.
    private mutating func nameBatch(of row: Row, label: String?, function: String?) {
        let b = row.batch - 1
        guard !batches[b].named else { return }
        if let label, !label.isEmpty {
            batches[b].label = label
            batches[b].named = true
            if labelBatch[label] == nil { labelBatch[label] = row.batch }
            labelledBurst[row.session ?? ""] = row.batch
            bump()
        } else if let function {
            batches[b].label = function
            batches[b].named = true
            bump()
        }
    }

    /// `cutoff`: the row comes from a hub record, so its submission time moves the next query's cutoff.
    private mutating func appendRow(_ row: Row, cutoff: Bool = true) -> Int {
        var row = row
        let b = row.batch - 1
        batches[b].size += 1
        row.seq = batches[b].size
        if row.submitted < batches[b].first { batches[b].first = row.submitted }
        if row.submitted > batches[b].last { batches[b].last = row.submitted }
        batches[b].counts[row.status] += 1
        totals[row.status] += 1
        rows.append(row)
        let r = rows.count - 1
        index[row.msgId] = r
        if cutoff, maxSubmitted.map({ row.submitted > $0 }) ?? true { maxSubmitted = row.submitted }
        touch(row: r)
        if let events = earlyIO.removeValue(forKey: row.msgId) {
            for e in events { apply(io: e, row: r) }
        }
        return r
    }

    /// Applies hub records: new tasks get rows (grouped into batches), known ones are updated.
    public mutating func apply(records: [HubRecord], now: Timestamp) {
        let fresh = records.filter { index[$0.msgId] == nil && !retired.contains($0.msgId) }
            .sorted { ($0.submitted ?? now) < ($1.submitted ?? now) }
        for rec in fresh where index[rec.msgId] == nil {
            let submitted = rec.submitted ?? now
            let name = rec.call?.function ?? rec.label ?? "tasks"
            let batch = batchFor(session: rec.session, label: rec.label, submitted: submitted, name: name)
            var row = Row(
                msgId: rec.msgId, batch: batch, seq: 0, session: intern(rec.session), label: rec.label, queue: rec.queue,
                submitted: submitted, text: rec.call?.text ?? rec.msgId)
            row.function = rec.call?.function
            row.isMapChunk = rec.call?.isMapChunk ?? false
            row.command = rec.call?.shellCommand
            _ = appendRow(row)
        }
        for rec in records {
            guard let r = index[rec.msgId] else { continue }
            update(r, with: rec, now: now)
        }
    }

    /// Applies update records (`HubQuery.updateKeys`: no label, header or call) to known tasks only, and returns the
    /// ids of those it does not know: their full records must be fetched first, or a fast task would get a row
    /// (and a batch) with no label, submission time or call.
    public mutating func applyUpdates(_ records: [HubRecord], now: Timestamp) -> [String] {
        var unknown: [String] = []
        var known: [HubRecord] = []
        for rec in records {
            if index[rec.msgId] != nil {
                known.append(rec)
            } else if !retired.contains(rec.msgId) {
                unknown.append(rec.msgId)
            }
        }
        apply(records: known, now: now)
        return unknown
    }

    private mutating func update(_ r: Int, with rec: HubRecord, now: Timestamp) {
        var row = rows[r]
        let before = row
        // A hub record always has its submission time; a reply to ppdash's own task does not.
        if rec.submitted != nil {
            if row.recordPending { recordBacklog -= 1 }
            row.recordPending = false
            row.recordGone = false
        }
        if let u = rec.engineUUID, !u.isEmpty {
            // The engine table's copy of the uuid, shared by its rows.
            if let eid = uuidToEngine[u] {
                row.engine = eid
                row.engineUUID = engines[eid]?.uuid ?? u
            } else {
                row.engineUUID = u
            }
        }
        if let s = rec.started { row.started = s }
        if let c = rec.completed { row.completed = c }
        if let x = rec.received {
            row.received = x
            if maxReceived.map({ x > $0 }) ?? true { maxReceived = x }
        }
        if let q = rec.queue { row.queue = q }
        if let o = rec.stdout, o.utf8.count > row.stdout.utf8.count { row.stdout = Self.bounded(o) }
        if let o = rec.stderr, o.utf8.count > row.stderr.utf8.count { row.stderr = Self.bounded(o) }
        if let e = rec.error { row.error = e }
        if let call = rec.call, row.function == nil {
            row.function = call.function
            row.command = call.shellCommand ?? row.command
            if row.text == row.msgId { row.text = call.text }
            row.isMapChunk = call.isMapChunk
        }
        if row.label == nil, let l = rec.label, !l.isEmpty { row.label = l }
        if row.session == nil, let s = rec.session { row.session = intern(s) }
        nameBatch(of: row, label: rec.label, function: rec.call?.function)
        var status: TaskStatus?
        if let s = rec.resultStatus {
            switch s {
            case "ok": status = .ok
            case "aborted": status = .aborted
            default: status = .error
            }
        }
        if let v = rec.result {
            row.result = v
            // ppdash's shell tasks return subprocess.CompletedProcess: its exit status decides ok or error.
            if case .object(let cls, _, _) = v, cls == "subprocess.CompletedProcess",
                let code = v["returncode"]?.intValue
            {
                if code < 0 {
                    row.signal = Int32(truncatingIfNeeded: -code)
                } else {
                    row.exitStatus = Int32(truncatingIfNeeded: code)
                }
                if let o = v["stdout"]?.stringValue { row.stdout = Self.bounded(o) }
                if let e = v["stderr"]?.stringValue { row.stderr = Self.bounded(e) }
                if code != 0 && status == .ok {
                    status = .error
                    row.error = code < 0 ? "killed by signal \(-code)" : "exit status \(code)"
                }
            }
        }
        if let n = rec.resultNote { row.resultNote = n }
        if status != nil { row.ioBusy = false }
        rows[r] = row
        if let eid = row.engine, before.engine != eid, !row.status.isFinished, status == nil {
            if var e = engines[eid], !e.assigned.contains(r) {
                e.assigned.append(r)
                engines[eid] = e
            }
        }
        if status != nil { rows[r].ioFinished = false }
        if let status, status != before.status {
            // A running task's engine is released by setStatus; make sure it knows the engine first.
            setStatus(r, status, now: now)
        } else if !Self.sameVisible(before, row) {
            touch(row: r)
        }
    }

    /// Up to `limit` msg_ids of rows whose record is pending, oldest first, skipping rows before `fromRow`;
    /// with `submittedBefore`, only rows submitted before it.
    public mutating func recordPendingIds(limit: Int, fromRow: Int = 0, submittedBefore: Timestamp? = nil) -> [String] {
        while recordQueueHead < recordQueue.count, !rows[recordQueue[recordQueueHead]].recordPending {
            recordQueueHead += 1
        }
        if recordQueueHead > 4096, recordQueueHead * 2 > recordQueue.count {
            recordQueue.removeFirst(recordQueueHead)
            recordQueueHead = 0
        }
        var ids: [String] = []
        // Rows are queued in order: the window starts by binary search, not by walking older pending rows.
        var k = recordQueue[recordQueueHead...].partitioningIndex { $0 >= fromRow }
        while k < recordQueue.count, ids.count < limit {
            let r = recordQueue[k]
            k += 1
            guard r >= fromRow, rows[r].recordPending else { continue }
            if let t = submittedBefore, rows[r].submitted >= t { break }
            ids.append(rows[r].msgId)
        }
        return ids
    }

    /// After a query for every task the hub received a result for since before the flood: rows finished (on IOPub)
    /// before `before` whose record it did not return are gone from the hub. Returns how many.
    @discardableResult
    public mutating func recordsGone(finishedBefore before: Timestamp) -> Int {
        var gone: [String] = []
        for k in recordQueueHead..<recordQueue.count {
            let r = recordQueue[k]
            if rows[r].recordPending, rows[r].status.isFinished, let c = rows[r].completed, c < before {
                gone.append(rows[r].msgId)
            }
        }
        recordsGone(gone)
        return gone.count
    }

    /// The hub no longer has these tasks' records (asked by msg_id, not returned): their rows say so.
    public mutating func recordsGone(_ ids: [String]) {
        for id in ids {
            guard let r = index[id], rows[r].recordPending else { continue }
            rows[r].recordPending = false
            rows[r].recordGone = true
            recordBacklog -= 1
            touch(row: r)
        }
    }

    static func sameVisible(_ a: Row, _ b: Row) -> Bool {
        a.recordPending == b.recordPending && a.engine == b.engine && a.started == b.started && a.completed == b.completed && a.received == b.received
            && a.stdout.utf8.count == b.stdout.utf8.count && a.stderr.utf8.count == b.stderr.utf8.count
            && a.error == b.error && a.text == b.text && a.queue == b.queue
    }

    static func bounded(_ s: String) -> String {
        guard s.utf8.count > maxOutput else { return s }
        let half = maxOutput / 2
        let u = Array(s.utf8)
        return String(decoding: u[..<half], as: UTF8.self) + "\n[... \(u.count - maxOutput) bytes dropped ...]\n"
            + String(decoding: u[(u.count - half)...], as: UTF8.self)
    }

    // MARK: IOPub

    /// One IOPub message about a task.
    public enum IOEvent: Sendable, Equatable {
        case busy(engine: Int?, at: Timestamp)
        /// The engine is done with the task: its reply went out (`at` is the engine's clock, as the hub's
        /// `completed`).
        case idle(engine: Int?, at: Timestamp)
        case stream(name: String, text: String)
        case error(String)
    }

    /// Decodes an IOPub message (`[topic]` ident, `engine.3.stdout`); nil when it is not about a task.
    public static func ioEvent(_ m: JupyterMessage) -> (msgId: String, event: IOEvent)? {
        guard let parent = m.parentId, !parent.isEmpty else { return nil }
        var engine: Int?
        if let topic = m.idents.first {
            let parts = String(decoding: topic, as: UTF8.self).split(separator: ".")
            if parts.count >= 2, parts[0] == "engine" { engine = Int(parts[1]) }
        }
        switch m.msgType {
        case "status":
            let state = m.content["execution_state"]?.string
            let at = m.header["date"]?.string.flatMap(ISODate.parse) ?? SystemClock().now()
            if state == "busy" { return (parent, .busy(engine: engine, at: at)) }
            if state == "idle" { return (parent, .idle(engine: engine, at: at)) }
            return nil
        case "stream":
            guard let name = m.content["name"]?.string, let text = m.content["text"]?.string else { return nil }
            return (parent, .stream(name: name, text: text))
        case "error":
            return HubRecord.describeError(m.content).map { (parent, .error($0)) }
        default:
            return nil
        }
    }

    /// Where an IOPub message's task came from, read from the message's parent (the request's header).
    public struct IOOrigin: Sendable, Equatable {
        public var session: String?
        public var submitted: Timestamp?
        /// The parent is an `apply_request` (a task), not a control request such as `abort_request`.
        public var isTask: Bool
        public init(session: String?, submitted: Timestamp?, isTask: Bool) {
            self.session = session
            self.submitted = submitted
            self.isTask = isTask
        }
    }

    /// The origin of an IOPub message, when its parent header says what the request was.
    public static func ioOrigin(_ m: JupyterMessage) -> IOOrigin? {
        guard let type = m.parent["msg_type"]?.string else { return nil }
        return IOOrigin(
            session: m.parent["session"]?.string, submitted: m.parent["date"]?.string.flatMap(ISODate.parse),
            isTask: type == "apply_request")
    }

    /// Applies an IOPub event. A task not known yet gets its row from the event's origin (its session and
    /// submission time; the hub's record adds the call and label later): IOPub is how ppdash learns at once that a
    /// task started and finished, without asking the hub, and the only news of a task whose record the hub's store
    /// already dropped (DictDB keeps 1024). Without an origin, events wait for their row (bounded).
    public mutating func apply(io event: IOEvent, msgId: String, origin: IOOrigin? = nil, now: Timestamp) {
        guard let r = index[msgId] else {
            guard !retired.contains(msgId) else { return }
            if let origin {
                // Control requests (abort, shutdown) also make engines busy: they are no tasks.
                guard origin.isTask else { return }
                let submitted = origin.submitted ?? now
                let batch = batchFor(
                    session: origin.session, label: nil, submitted: submitted, name: "tasks", named: false)
                var row = Row(
                    msgId: msgId, batch: batch, seq: 0, session: intern(origin.session), label: nil, queue: nil,
                    submitted: submitted, text: msgId)
                row.recordPending = true
                let r = appendRow(row, cutoff: false)
                recordQueue.append(r)
                recordBacklog += 1
                ioRowsCreated += 1
                apply(io: event, row: r, now: now)
                return
            }
            if earlyIO.count > 10_000 { earlyIO.removeAll() }
            earlyIO[msgId, default: []].append(event)
            return
        }
        apply(io: event, row: r, now: now)
    }

    private mutating func apply(io event: IOEvent, row r: Int, now: Timestamp = SystemClock().now()) {
        switch event {
        case .busy(let engine, let at):
            if rows[r].status.isFinished {
                // Finished on IOPub's word only, and busy again: the scheduler retries the failed task on another
                // engine under the same msg_id.
                guard rows[r].ioFinished else { return }
                rows[r].ioFinished = false
                rows[r].ioError = false
                rows[r].retries += 1
                rows[r].completed = nil
                rows[r].started = nil
                rows[r].error = nil
                setStatus(r, .running, now: now)
            }
            rows[r].ioBusy = true
            if rows[r].started == nil { rows[r].started = at }
            if let engine {
                rows[r].engine = engine
                if let e = engines[engine] { rows[r].engineUUID = e.uuid }
            }
            if rows[r].status == .pending { setStatus(r, .running, now: now) }
            if let engine {
                // Another row this engine was thought to run is queued behind it after all.
                if let c = engines[engine]?.current, c != r, rows[c].status == .running, !rows[c].ioBusy {
                    setStatus(c, .pending, now: now)
                }
                setCurrent(engine, r, now: now)
            }
            if r > newestStarted { newestStarted = r }
            touch(row: r)
        case .idle(let engine, let at):
            rows[r].ioBusy = false
            if let engine, engines[engine]?.current == r { setCurrent(engine, nil, now: now) }
            // The engine replied: the task is done, failed if it published an error. Shown at once; the hub's
            // record (or, for ppdash's own tasks, the reply) confirms it. A shell task's exit status is in its
            // result, so those wait for it.
            if !rows[r].status.isFinished, !rows[r].ours, rows[r].command == nil {
                rows[r].ioFinished = true
                if rows[r].completed == nil { rows[r].completed = at }
                setStatus(r, rows[r].ioError ? .error : .ok, now: now)
            }
        case .stream(let name, let text):
            if name == "stderr" {
                rows[r].stderr = Self.bounded(rows[r].stderr + text)
            } else {
                rows[r].stdout = Self.bounded(rows[r].stdout + text)
            }
            touch(row: r)
        case .error(let text):
            rows[r].error = text
            rows[r].ioError = true
            touch(row: r)
        }
    }

    // MARK: the controller

    /// The controller stopped answering (`reason`), or answers again (nil). Engines are shown as dead (state
    /// unknown) while it is gone; they come back with the next `connection_reply`.
    public mutating func setControllerGone(_ reason: String?) {
        guard controllerGone != reason else { return }
        controllerGone = reason
        for id in engines.keys { touch(engine: id) }
        bump()
    }

    /// Fails every unfinished task with `reason`: the controller that held them is gone, and so are they (an
    /// ipyparallel hub keeps its queues in memory). Returns how many.
    @discardableResult
    public mutating func loseUnfinished(reason: String, now: Timestamp) -> Int {
        var n = 0
        for r in rows.indices where !rows[r].status.isFinished {
            rows[r].error = reason
            rows[r].ioBusy = false
            setStatus(r, .error, now: now)
            n += 1
        }
        for (id, var e) in engines where e.current != nil || !e.assigned.isEmpty {
            e.busy.setBusy(false, at: now.microseconds)
            e.current = nil
            e.assigned = []
            engines[id] = e
            touch(engine: id)
        }
        return n
    }

    /// Fails the given unfinished tasks with `reason` (e.g. ones the hub never received); returns how many.
    @discardableResult
    public mutating func lose(msgIds: [String], reason: String, now: Timestamp) -> Int {
        var n = 0
        for id in msgIds {
            guard let r = index[id], !rows[r].status.isFinished else { continue }
            rows[r].error = reason
            rows[r].ioBusy = false
            setStatus(r, .error, now: now)
            n += 1
        }
        return n
    }

    /// A new cluster took the old one's place (a new connection file at the same path): the old engines are dead,
    /// its unfinished tasks lost, and the incremental cutoffs start again for the new hub.
    public mutating func clusterReplaced(reason: String, now: Timestamp) {
        loseUnfinished(reason: reason, now: now)
        for id in engines.keys where engines[id]!.alive {
            engineUnregistered(id: id, reason: "controller gone (cluster replaced)", now: now)
        }
        uuidToEngine.removeAll()
        maxSubmitted = nil
        maxReceived = nil
        controllerGone = nil
        bump()
    }

    // MARK: ppdash's own submissions

    /// Adds a batch of tasks ppdash itself submits; returns its id.
    public mutating func addOwnBatch(
        label: String, session: String, tasks: [(msgId: String, command: String, args: [String])], now: Timestamp
    ) -> BatchID {
        let b = newBatch(label: label, session: session, at: now)
        for t in tasks {
            var row = Row(
                msgId: t.msgId, batch: b, seq: 0, session: session, label: label, queue: "task", submitted: now,
                text: t.command)
            row.function = "subprocess.run"
            row.command = t.command
            row.args = t.args
            row.ours = true
            _ = appendRow(row)
        }
        return b
    }

    /// Resets a task for a new attempt under a new msg_id (ppdash's retry).
    public mutating func resubmitted(row r: Int, newMsgId: String, now: Timestamp) {
        let old = rows[r].msgId
        retired.insert(old)
        index[old] = nil
        index[newMsgId] = r
        if let eid = rows[r].engine, var e = engines[eid] {
            e.assigned.removeAll { $0 == r }
            engines[eid] = e
            if e.current == r { setCurrent(eid, nil, now: now) }
        }
        setStatus(r, .pending, now: now)
        var row = rows[r]
        row.msgId = newMsgId
        row.engine = nil
        row.engineUUID = nil
        row.started = nil
        row.completed = nil
        row.received = nil
        row.stdout = ""
        row.stderr = ""
        row.error = nil
        row.exitStatus = nil
        row.signal = nil
        row.result = nil
        row.ioBusy = false
        row.retries += 1
        row.submitted = now
        rows[r] = row
        touch(row: r)
    }

    // MARK: reading

    /// Completions per second over the last 5 seconds.
    func rate(now: Int64) -> Double {
        let from = now - 5_000_000
        var n = 0
        for t in completions.reversed() {
            if t < from { break }
            n += 1
        }
        return Double(n) / 5
    }

    func engineState(_ e: Engine) -> EngineState {
        if !e.alive { return .dead(reason: e.deathReason ?? "unregistered") }
        // The hub is the only witness of its engines: with it gone, whether they live is unknown.
        if let gone = controllerGone { return .dead(reason: "unknown: controller gone (\(gone))") }
        return e.current != nil ? .busy : .idle
    }

    /// The engines pane's rows, by id.
    public func engineSnapshots(now: Timestamp) -> [EngineSnapshot] {
        engines.keys.sorted().map { id in
            let e = engines[id]!
            let life = max(1, now.microseconds - e.created)
            return EngineSnapshot(
                id: id, info: EngineInfo(kind: .ipp, host: e.uuid.isEmpty ? "?" : "uuid " + String(e.uuid.prefix(8)), pid: 0, cores: 0),
                state: engineState(e), currentTask: e.current.map { TaskID($0 + 1) },
                queued: max(0, e.assigned.count - (e.current == nil ? 0 : 1)), done: e.done, failed: e.failed,
                utilisation: min(1, Double(e.busy.busyTotal(now: now.microseconds)) / Double(life)),
                activity: e.busy.activity(now: now.microseconds))
        }
    }

    public func batchSnapshot(_ b: Batch, now: Timestamp) -> BatchSnapshot {
        let done = b.counts.done == b.size && b.size > 0
        let end = done ? (b.lastReceived ?? now) : now
        let secs = max(1e-3, b.first.seconds(to: end))
        let rate = Double(b.counts.done) / secs
        var eta: Double?
        if !done && b.counts.done > 0 && rate > 0 { eta = Double(b.size - b.counts.done) / rate }
        return BatchSnapshot(
            id: b.id, label: b.label, counts: b.counts, submitted: b.first, finished: done ? end : nil, rate: rate,
            eta: eta)
    }

    func taskRow(_ i: Int) -> TaskRow {
        let r = rows[i]
        return TaskRow(
            id: TaskID(i + 1), batch: r.batch, seq: r.seq, engine: r.engine, status: r.status, submitted: r.submitted,
            started: r.started, completed: r.completed, retries: r.retries, text: r.callText, msgId: r.msgId)
    }

    /// The detail view's record.
    public func metadata(_ id: TaskID) -> TaskMetadata? {
        let i = id.rawValue - 1
        guard rows.indices.contains(i) else { return nil }
        let r = rows[i]
        var text = r.callText
        if var v = r.result, r.command == nil {
            // A one-item map chunk returns [x]; the client's AsyncMapResult shows x.
            if r.isMapChunk, case .list(let items) = v, items.count == 1 { v = items[0] }
            text += "  ->  " + v.repr
        }
        if let n = r.resultNote { text += "  (" + n + ")" }
        return TaskMetadata(
            id: id, batch: r.batch, seq: r.seq, engine: r.engine,
            engineHost: r.engineUUID.map { "engine uuid " + $0 }, status: r.status, submitted: r.submitted,
            started: r.started, completed: r.completed, received: r.received, retries: r.retries,
            stdout: CapturedOutput(text: r.stdout), stderr: CapturedOutput(text: r.stderr), error: r.error,
            exitStatus: r.exitStatus, signal: r.signal, text: text, args: r.args, externalId: r.msgId)
    }

    // MARK: the task table window

    /// The table index of the last query and the generation it was brought up to date at.
    public struct TableCache: Sendable {
        var index: TableIndex?
        var generation: UInt64 = 0
        public init() {}
    }

    /// The requested window: O(limit) by id without a filter; otherwise from an index rebuilt when the rows changed.
    func window(_ q: TableQuery, cache: inout TableCache) -> TableWindow {
        let changed: [Int32]? = cache.generation == generation ? [] : nil
        cache.generation = generation
        var cost = 0
        return TableIndex.window(
            self, q, index: &cache.index, changed: changed, anchor: newestStarted >= 0 ? newestStarted : nil, cost: &cost)
    }

    /// One frame for the dashboard.
    func snapshot(_ q: TableQuery, now: Timestamp, source: String, cache: inout TableCache) -> Snapshot {
        let first = max(0, batches.count - max(0, q.batchLimit))
        return Snapshot(
            time: now, startedAt: startedAt, generation: generation, paused: false, totals: totals,
            rate: rate(now: now.microseconds), engines: engineSnapshots(now: now),
            batches: batches[first...].map { batchSnapshot($0, now: now) }, batchCount: batches.count,
            table: window(q, cache: &cache), source: source)
    }
}

extension IPPMirror {
    /// Every failed task's record for the triage view, in row order (task `i + 1` is row `i`): one pass over the rows,
    /// as `Scheduler.failureRecords` (read when the view opens and when tasks changed, never every frame). A task that
    /// never reached an engine (lost with its controller, aborted while queued) has no engine.
    public func failureRecords() -> [FailureRecord] {
        var out: [FailureRecord] = []
        for (i, r) in rows.enumerated() where r.status.isFailure {
            // The first line is found in the head of stderr: never the whole (up to 256 KB) stream copied.
            let head = CapturedOutput(bytes: Array(r.stderr.utf8.prefix(4096)))
            out.append(
                FailureRecord(
                    task: TaskID(i + 1), batch: r.batch, engine: r.engine, status: r.status, exitStatus: r.exitStatus,
                    signal: r.signal, firstLine: FailureRecord.firstLine(stderr: head, error: r.error)))
        }
        return out
    }
}

extension IPPMirror: TaskColumns {
    public func key(_ i: Int) -> TaskKey { taskRow(i).key }
    public func text(_ i: Int) -> String { rows[i].text }
    public func externalId(_ i: Int) -> String? { rows[i].msgId }
    public func row(_ i: Int) -> TaskRow { taskRow(i) }
}
