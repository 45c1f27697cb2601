import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A local HTTP endpoint that answers every `POST` with one status (201 by
/// default, as a push service does) and counts what it received: the far end
/// of throughput measurements, where checking the contract is not the point.
public final class HTTPSink: Sendable {
    private let count = Mutex(0)
    private let bytes = Mutex(0)
    private let boundPort = Mutex(0)
    private let stopper = Mutex<(@Sendable () -> Void)?>(nil)
    public let status: Int

    public init(status: Int = 201) { self.status = status }

    public var port: Int { boundPort.withLock { $0 } }
    public var received: Int { count.withLock { $0 } }
    public var receivedBytes: Int { bytes.withLock { $0 } }

    public func start() async throws {
        let router = Router()
        router.post("/**") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            self.bytes.withLock { $0 += body.readableBytes }
            self.count.withLock { $0 += 1 }
            return Response(status: .init(code: self.status))
        }
        let server = try await LocalServer.start(router, label: "http-sink")
        boundPort.withLock { $0 = server.port }
        stopper.withLock { $0 = { server.stop() } }
    }

    public func stop() { stopper.withLock { $0?() } }
}
