/// Why a scenario could not be run or did not meet its expectations.
public struct ScenarioError: Error, CustomStringConvertible, Sendable {
    /// Process exit status that `yjs-runner.mjs` uses for this failure.
    public enum Kind: Int32, Sendable {
        /// An `expect` block was not met.
        case expectationFailed = 1
        /// The scenario is invalid (syntax, unknown field, bad index, ...).
        case invalid = 2
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    static func invalid(_ message: String) -> ScenarioError { ScenarioError(.invalid, message) }

    public var description: String { message }
}
