// The engines pane's figures without a walk over the engines: per-state counters the scheduler keeps as engines
// change (`EngineTable` notes each change), so a frame with a thousand engines reads a few integers and only the
// engine rows it shows.

/// How many engines are in each state, kept up to date as they change.
public struct EngineCounts: Sendable, Hashable, Codable {
    /// Engines in all (alive or not).
    public var total = 0
    public var busy = 0
    public var idle = 0
    public var draining = 0
    /// Dead for a reason other than removal.
    public var dead = 0
    /// Removed by the user.
    public var removed = 0
    /// Batch-system jobs not connected yet (alive, counted apart: they run nothing).
    public var queued = 0
    /// Alive and excluded from new work (also counted in busy/idle).
    public var excluded = 0

    public init() {}

    /// Alive engines (busy, idle, draining, queued).
    public var alive: Int { busy + idle + draining + queued }

    /// The counts of a list of engine rows (for sources that hold every row anyway: a journal, an ipp mirror).
    public init(_ engines: [EngineSnapshot]) {
        for e in engines {
            total += 1
            if e.excluded && e.state.isAlive { excluded += 1 }
            if e.state.isAlive, e.job?.isQueued == true {
                queued += 1
                continue
            }
            switch e.state {
            case .busy: busy += 1
            case .idle: idle += 1
            case .draining: draining += 1
            case .dead(let reason): if reason == "removed" { removed += 1 } else { dead += 1 }
            }
        }
    }

    /// Which counter an engine slot is in (and whether it is excluded).
    struct Kind: Equatable {
        enum State: Equatable { case busy, idle, draining, dead, removed, queued }
        var state: State
        var excluded: Bool

        init(_ e: borrowing EngineSlot) {
            self.init(
                Life(alive: e.alive, deathReason: e.deathReason), excluded: e.excluded, held: e.held, draining: e.draining,
                busy: e.current != nil)
        }

        /// Whether it is alive (or why not) as the slot says: `.stopped` is a slot not alive with no reason of death
        /// recorded (counted by its other fields, never as excluded).
        enum Life {
            case alive, stopped, dead, removed

            @inline(__always) init(alive: Bool, deathReason: String?) {
                self = alive ? .alive : deathReason == nil ? .stopped : deathReason == "removed" ? .removed : .dead
            }
        }

        /// From the slot's fields, read in place (`EngineTable` reads each one: a copy of the whole slot per change
        /// cost two memcpys of it, on every task's dispatch and completion).
        @inline(__always) init(_ life: Life, excluded: Bool, held: Bool, draining: Bool, busy: Bool) {
            switch life {
            case .dead, .removed:
                state = life == .removed ? .removed : .dead
                self.excluded = false
                return
            case .alive, .stopped:
                self.excluded = excluded && life == .alive
            }
            if held {
                state = .queued
            } else if draining {
                state = .draining
            } else {
                state = busy ? .busy : .idle
            }
        }
    }

    mutating func add(_ k: Kind, _ n: Int) {
        switch k.state {
        case .busy: busy += n
        case .idle: idle += n
        case .draining: draining += n
        case .dead: dead += n
        case .removed: removed += n
        case .queued: queued += n
        }
        if k.excluded { excluded += n }
    }

    /// Notes one engine slot's change from `before` to `after`.
    mutating func move(_ before: Kind, _ after: Kind) {
        guard before != after else { return }
        add(before, -1)
        add(after, 1)
    }
}

/// Which engine rows a reader wants: `limit` rows from `offset` (clamped so the window is full when it can be).
public struct EngineWindow: Sendable, Hashable, Codable {
    public var offset: Int
    public var limit: Int
    public init(offset: Int, limit: Int) {
        self.offset = offset
        self.limit = limit
    }

    /// The positions shown out of `count` engines.
    public func range(count: Int) -> Range<Int> {
        let limit = max(0, min(limit, count))
        let first = max(0, min(offset, count - limit))
        return first..<(first + limit)
    }
}
