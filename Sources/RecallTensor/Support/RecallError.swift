/// A failure with a one-line message that names the file or field and says what to do.
///
/// Every user-facing error of RecallCore is one of these, so the CLI and the daemon can
/// print `description` as is.
public struct RecallError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        case invalidFile       // a file is not what it claims to be
        case unsupported       // valid, but not something we handle
        case notFound          // a named file, tensor or key is missing
        case mismatch          // inputs disagree (shapes, names, architecture)
        case io                // the operating system refused
        case invalidArgument   // a caller passed something nonsensical
        case conflict          // valid, but the registry's state says no (already initialised)
    }
    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
