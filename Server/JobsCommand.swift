import ArgumentParser
import Foundation
import SyncServer

/// `nest-server jobs list|show|retry|cancel`: the durable job queue.
struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs", abstract: "Inspect and steer the job queue.", subcommands: [List.self, Show.self, Retry.self, Cancel.self, Enqueue.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Jobs, newest first.")
        @OptionGroup var store: StoreOptions
        @Option(help: "Only this state: available, scheduled, running, retryable, completed, cancelled, discarded.") var state: String?
        @Option(help: "Only this kind, e.g. ai.generate.") var kind: String?
        @Option(help: "At most this many.") var limit = 50
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            let s: JobState?
            if let state {
                guard let parsed = JobState(rawValue: state) else {
                    throw ValidationError("unknown state \(state): use \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                s = parsed
            } else { s = nil }
            let (kind, limit) = (kind.map(JobKind.init(rawValue:)), max(1, limit))
            let jobs = try await store.withJobStore { try await $0.jobs(state: s, kind: kind, limit: limit) }
            if json { return try printJSON(jobs) }
            if jobs.isEmpty { print("no jobs") }
            for j in jobs { print(JobsCommand.line(j)) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One job, with every attempt's error.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Job id.") var id: Int64
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            let id = self.id
            guard let job = try await store.withJobStore({ try await $0.job(id: id) }) else { throw NotFound(id: id) }
            if json { return try printJSON(job) }
            JobsCommand.printDetail(job)
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a job that is not running again, at once.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Job id.") var id: Int64
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            let id = self.id
            guard let job = try await store.withJobStore({ try await $0.retry(id: id, now: epochMillis(Date())) }) else { throw NotFound(id: id) }
            if json { return try printJSON(job) }
            guard job.state == .available else { throw ValidationError("job \(id) is running; it was not changed") }
            print("job \(id) is available again (attempt \(job.attempt) of \(job.maxAttempts) used)")
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a queued or running job (a running one stops at its next lease renewal).")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Job id.") var id: Int64
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            let id = self.id
            guard let job = try await store.withJobStore({ try await $0.cancel(id: id, now: epochMillis(Date())) }) else { throw NotFound(id: id) }
            if json { return try printJSON(job) }
            guard job.state == .cancelled else { throw ValidationError("job \(id) had finished (\(job.state.rawValue)); it was not changed") }
            print("job \(id) cancelled")
        }
    }

    struct Enqueue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue no-op jobs (to measure the queue, or to watch a job survive a node): the running servers' workers take them.")
        @OptionGroup var store: StoreOptions
        @Option(help: "How many.") var count = 1
        @Option(help: "Milliseconds each job waits before completing.") var sleepMs: Int64 = 0
        @Option(help: "Workspace recorded on the jobs.") var workspace = "bench"

        func run() async throws {
            let (count, sleep, workspace) = (max(1, count), max(0, sleepMs), workspace)
            let ids = try await store.withJobStore { store in
                var ids: [Int64] = []
                for n in 0..<count {
                    let job = NewJob(kind: .noop, workspace: workspace, documentID: "\(workspace)/draft/noop-\(n)", documentVersion: 0,
                                     arguments: "{\"sleepMillis\":\(sleep)}")
                    ids.append(try await store.enqueue(job, now: epochMillis(Date())).id)
                }
                return ids
            }
            print("queued \(ids.count) no-op jobs: \(ids.first ?? 0)...\(ids.last ?? 0)")
        }
    }

    struct NotFound: Error, CustomStringConvertible {
        var id: Int64
        var description: String { "no job \(id)" }
    }

    static func time(_ ms: Int64?) -> String {
        guard let ms else { return "-" }
        return Date(timeIntervalSince1970: Double(ms) / 1000).formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
    }

    static func line(_ j: Job) -> String {
        "\(j.id)\t\(j.kind)\t\(j.state.rawValue)\tattempt \(j.attempt)/\(j.maxAttempts)\t\(j.documentID)\trun at \(time(j.runAt))"
            + (j.errors.last.map { "\tlast error: \($0.message)" } ?? "")
    }

    static func printDetail(_ j: Job) {
        print("job \(j.id): \(j.kind) \(j.state.rawValue)")
        print("document:  \(j.documentID) (version \(j.documentVersion)), workspace \(j.workspace)")
        print("key:       \(j.uniqueKey ?? "-")")
        print("attempts:  \(j.attempt) of \(j.maxAttempts), last by \(j.attemptedBy ?? "-")")
        print("run at:    \(time(j.runAt)); created \(time(j.createdAt)); finished \(time(j.finalizedAt))")
        if let lease = j.leaseUntil { print("lease:     until \(time(lease))") }
        print("arguments: \(j.arguments)")
        if let r = j.result { print("result:    \(r)") }
        for e in j.errors { print("error:     attempt \(e.attempt) at \(time(e.at)) on \(e.worker): \(e.message)") }
    }
}

/// `nest-server projections rebuild`: the relational projections made again from the documents.
struct ProjectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "projections", abstract: "The relational projections of the documents.",
                                                    subcommands: [Rebuild.self])

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Rebuild the projections from the stored documents (jobs are triggered as after a commit).")
        @OptionGroup var store: StoreOptions
        @Option(help: "Only this workspace.") var workspace: String?

        func run() async throws {
            let workspace = self.workspace
            let (documents, projected) = try await store.withJobStore { store in
                try await ProjectionRebuild.run(store: store, workspace: workspace) { done, total in
                    if done % 100 == 0 || done == total { FileHandle.standardError.write(Data("\r\(done)/\(total) documents".utf8)) }
                }
            }
            FileHandle.standardError.write(Data("\n".utf8))
            print("rebuilt: \(projected) typed documents projected of \(documents)")
        }
    }
}

func printJSON(_ value: some Encodable) throws {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try e.encode(value), as: UTF8.self))
}

extension StoreOptions {
    /// Runs `body` with the configured store, which keeps jobs and projections too.
    func withJobStore<T: Sendable>(_ body: @escaping @Sendable (any DocumentStore & JobStore & ProjectionStore) async throws -> T) async throws -> T {
        try await withStore { store in
            guard let full = store as? any DocumentStore & JobStore & ProjectionStore else {
                throw ValidationError("this store keeps no jobs")
            }
            return try await body(full)
        }
    }
}
