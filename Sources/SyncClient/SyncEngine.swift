import Foundation
import HTTPTypes
import HummingbirdWSClient
public import Logging
import NIOCore
import NIOWebSocket
import SyncProtocol
import Synchronization

/// Syncs a ``LocalStore`` with its server over one WebSocket (`/v1/sync`),
/// reconnecting with exponential backoff and jitter.
public struct SyncEngine: Sendable {
    public let store: LocalStore
    let logger: Logger

    public init(store: LocalStore, logger: Logger = Logger(label: "nest.sync")) {
        self.store = store
        self.logger = logger
    }

    /// Runs a sync. `.once` returns after one round (or its timeout) with a
    /// report; `.watch` runs until the task is cancelled. Throws when the
    /// server refuses the token or access, or (`.once`) cannot be reached.
    public func run(_ options: SyncOptions) async throws(ClientError) -> SyncReport {
        guard var profile = try store.profile() else { throw .notLoggedIn }
        var backoff = Backoff()
        var attempt = 0
        var total = SyncReport()
        let started = Date()
        while true {
            attempt += 1
            options.onStatus(.connecting(attempt: attempt))
            let outcome = await session(profile: profile, options: options)
            total.merge(outcome.report)
            if let p = try store.profile() { profile = p }
            switch outcome.end {
            case nil:
                total.pendingAfter = try store.outboxSummary().pendingUpdates
                total.complete = outcome.report.complete
                if total.complete { options.onStatus(.synced) }
                return total
            case .fatal(let error)?:
                options.onStatus(.offline(reason: error.description))
                throw error
            case .disconnected(let why, let hint)?:
                if outcome.welcomed { backoff.reset() }
                options.onStatus(.offline(reason: why))
                if Task.isCancelled { return total }
                let elapsed = Date().timeIntervalSince(started)
                if options.mode == .once && (attempt >= options.attempts || elapsed >= options.timeout) {
                    if outcome.welcomed {
                        total.pendingAfter = try store.outboxSummary().pendingUpdates
                        return total
                    }
                    throw .network(why)
                }
                let delay = backoff.next(atLeast: hint)
                logger.info("reconnecting", metadata: ["in_seconds": "\(String(format: "%.1f", delay))", "reason": "\(why)"])
                do { try await Task.sleep(for: .seconds(delay)) } catch { return total }
            }
        }
    }

    struct Outcome {
        var report: SyncReport
        var end: SessionEnd?
        var welcomed: Bool
    }

    /// One connection: runs a ``SyncSession`` on frames and ticks until it
    /// finishes, the server closes, or the network fails.
    func session(profile: Profile, options: SyncOptions) async -> Outcome {
        let result = SessionResult()
        var config = WebSocketClientConfiguration()
        config.maxFrameSize = 1 << 26
        config.additionalHeaders[.authorization] = "Bearer \(profile.token)"
        let store = self.store
        do {
            let close = try await WebSocketClient.connect(url: profile.syncURL, configuration: config, logger: logger) { inbound, outbound, _ in
                let (events, feed) = AsyncStream<SessionEvent>.makeStream()
                await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        let session = SyncSession(store: store, profile: profile, options: options) { bytes in
                            try await outbound.write(.binary(ByteBuffer(bytes: bytes)))
                        }
                        var end: SessionEnd?
                        do {
                            try await session.start()
                            loop: for await event in events {
                                switch event {
                                case .frame(let bytes):
                                    if try await session.receive(bytes) { break loop }
                                case .tick:
                                    if try await session.tick() { break loop }
                                case .closed:
                                    end = .disconnected("the server closed the connection", hint: 0)
                                    break loop
                                }
                            }
                        } catch let e as SessionEnd {
                            end = e
                        } catch let e as ClientError {
                            end = .fatal(e)
                        } catch {
                            end = .disconnected("\(error)", hint: 0)
                        }
                        let report = session.report
                        let welcomed = session.welcomed
                        result.value.withLock { $0 = (report, end, welcomed) }
                        try? await outbound.close(.normalClosure, reason: nil)
                    }
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: .milliseconds(200))
                            feed.yield(.tick)
                        }
                    }
                    do {
                        for try await message in inbound.messages(maxSize: 1 << 26) {
                            if case .binary(let b) = message { feed.yield(.frame(Array(buffer: b))) }
                        }
                    } catch {}
                    feed.yield(.closed)
                    feed.finish()
                    group.cancelAll()
                }
            }
            let code: UInt16? = if case .unknown(let c)? = close?.closeCode { c } else { nil }
            return result.value.withLock { r in
                var end = r.1
                if case .disconnected? = end, let code { end = Self.interpret(close: code) ?? end }
                return Outcome(report: r.0, end: end, welcomed: r.2)
            }
        } catch {
            return result.value.withLock { r in
                Outcome(report: r.0, end: r.1 ?? .disconnected("\(error)", hint: 0), welcomed: r.2)
            }
        }
    }

    /// What a close code tells the client (PROTOCOL.md section 5).
    static func interpret(close code: UInt16) -> SessionEnd? {
        switch code {
        case CloseCode.unauthenticated: return .fatal(.unauthenticated("connection closed with \(code)"))
        case CloseCode.forbidden: return .fatal(.forbidden("connection closed with \(code)"))
        case CloseCode.unsupportedVersion: return .fatal(.protocolViolation("the server speaks another protocol version (close \(code))"))
        case CloseCode.flooding: return .disconnected("closed for sending too fast (\(code))", hint: 10)
        case CloseCode.tryAgainLater: return .disconnected("the server is busy (\(code))", hint: 3)
        default: return nil
        }
    }
}

/// What the session task leaves for the caller once the connection ends.
final class SessionResult: Sendable {
    let value = Mutex<(SyncReport, SessionEnd?, Bool)>((SyncReport(), nil, false))
}

enum SessionEvent: Sendable {
    case frame([UInt8])
    case tick
    case closed
}

extension SyncReport {
    mutating func merge(_ o: SyncReport) {
        documentsSynced += o.documentsSynced
        documentsChanged += o.documentsChanged
        remoteUpdates += o.remoteUpdates
        updatesAcked += o.updatesAcked
        editsAcked += o.editsAcked
        conflictsRecorded += o.conflictsRecorded
        refused += o.refused
        documentProblems += o.documentProblems
        bytesSent += o.bytesSent
        bytesReceived += o.bytesReceived
    }
}
