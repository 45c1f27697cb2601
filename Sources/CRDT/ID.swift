/// Identifies one unit of content: the client that created it and that
/// client's clock at the time (spec 2.1).
public struct ID: Hashable, Sendable, CustomStringConvertible {
    /// The creating client's id (Yjs: uint32; Yrs: below 2^53).
    public var client: Int
    /// The client's clock, counted in content units (UTF-16 code units for text).
    public var clock: Int

    public init(client: Int, clock: Int) {
        self.client = client
        self.clock = clock
    }

    public var description: String { "(\(client),\(clock))" }
}
