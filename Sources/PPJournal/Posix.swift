// The system layer's facts and /proc probes (`SystemFacts`, re-exported: the journal's users name them through
// PPJournal), with the journal's own type for instants.
import PPKit
@_exported import PPSystem

extension SystemFacts {
    /// When a process started, or nil.
    public static func processStart(_ pid: Int32) -> Timestamp? { processStartSeconds(pid).map(Timestamp.init) }

    /// Whether any process of group `pgid` is alive; with `startedAt`, only if its leader started then.
    public static func processGroupAlive(_ pgid: Int32, startedAt: Timestamp? = nil) -> Bool {
        processGroupAlive(pgid, startedAtSeconds: startedAt?.seconds)
    }
}
