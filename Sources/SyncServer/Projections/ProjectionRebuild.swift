import Foundation
import Logging

/// Makes the projections again from the stored documents (after a restore,
/// or to check them): the rows of `workspace` (all when nil) are deleted,
/// then every stored document is projected as after a commit, triggering
/// the jobs its rows call for (repeats are one job by their unique keys).
public enum ProjectionRebuild {
    /// Returns the documents read and how many were typed ones projected.
    public static func run(store: any DocumentStore & JobStore & ProjectionStore, workspace: String?,
                           progress: @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in }) async throws -> (documents: Int, projected: Int) {
        let logger = Logger(label: "nest-server.projections")
        try await store.clearProjections(workspace: workspace)
        let ids = try await store.documentIDs(workspace: workspace)
        let projector = Projector(
            store: store, triggers: ProjectionTriggers(jobs: store, wakeup: Wakeup(), logger: logger, now: { epochMillis(Date()) }), logger: logger)
        var projected = 0
        for start in stride(from: 0, to: ids.count, by: 64) {
            let batch = Array(ids[start..<min(ids.count, start + 64)])
            projected += await projector.rebuild(batch).count
            progress(start + batch.count, ids.count)
        }
        return (ids.count, projected)
    }
}
