public import Foundation

/// A deterministic generator (SplitMix64) so failures replay from the printed seed.
public struct SeededRandom: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs programs for the tests.
public enum ProcessRunner {
    /// Runs a program to the end and returns its exit status, stdout and
    /// stderr, without blocking a thread of the concurrency pool: there is
    /// no blocking variant, because tests that waited on node that way
    /// starved the clients of the tests running beside them.
    @discardableResult
    public static func run(
        _ executable: String, _ args: [String], cwd: URL? = nil, environment: [String: String]? = nil
    ) async throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        if let cwd { p.currentDirectoryURL = cwd }
        if let environment { p.environment = environment }
        let outPipe = Pipe(), errPipe = Pipe()
        p.standardOutput = outPipe
        p.standardError = errPipe
        let out = DataBox.collecting(outPipe), err = DataBox.collecting(errPipe)
        let status: Int32 = try await withCheckedThrowingContinuation { cont in
            p.terminationHandler = { cont.resume(returning: $0.terminationStatus) }
            do { try p.run() } catch {
                p.terminationHandler = nil
                cont.resume(throwing: error)
            }
        }
        let deadline = Date().addingTimeInterval(5)
        while !(out.done && err.done) && Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }
        return (status, String(decoding: out.get(), as: UTF8.self), String(decoding: err.get(), as: UTF8.self))
    }
}

/// Bytes collected from a pipe by a reader.
public final class DataBox: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var finished = false
    public var done: Bool { lock.withLock { finished } }
    public func append(_ d: Data) { lock.withLock { data.append(d) } }
    public func finish() { lock.withLock { finished = true } }
    public func get() -> Data { lock.withLock { data } }

    /// Collects everything `pipe` delivers until end of file, on a thread
    /// of its own (never one of the concurrency pool).
    public static func collecting(_ pipe: Pipe) -> DataBox {
        let box = DataBox()
        PipeDrain.start(pipe, { box.append($0) }, atEnd: { box.finish() })
        return box
    }
}

/// Reads a pipe to its end with blocking reads on a dedicated thread.
/// `FileHandle.readabilityHandler` is not used on purpose: tearing its
/// dispatch source down while other handles come and go crashes
/// libdispatch's manager thread on Linux (swift-corelibs-libdispatch#949),
/// which took the whole test process down.
public enum PipeDrain {
    public static func start(_ pipe: Pipe, _ sink: @escaping @Sendable (Data) -> Void, atEnd: @escaping @Sendable () -> Void = {}) {
        let handle = pipe.fileHandleForReading
        let reader = Thread {
            while true {
                let d = handle.availableData
                if d.isEmpty { break }
                sink(d)
            }
            atEnd()
        }
        reader.start()
    }
}
