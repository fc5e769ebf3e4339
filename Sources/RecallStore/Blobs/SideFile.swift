import Foundation
import RecallTensor

/// A file stored with a model's weights (config.json, the tokenizer files), by name and bytes:
/// what a checkpoint directory brings from disk, or what a stored model hands to the next one.
public struct SideFile: Sendable, Equatable {
    public let name: String
    public let bytes: Data

    public init(name: String, bytes: Data) {
        self.name = name
        self.bytes = bytes
    }

    /// Reads `url`; the file is stored under its last path component.
    public init(contentsOf url: URL) throws {
        do { bytes = try Data(contentsOf: url) } catch {
            throw RecallError(.notFound, "\(url.path): cannot read (\(error.localizedDescription))")
        }
        name = url.lastPathComponent
    }
}

extension StoredCheckpoint {
    /// The stored side files with their bytes, in name order.
    public func sideFiles() throws -> [SideFile] {
        try fileNames.sorted().map { SideFile(name: $0, bytes: try file(named: $0)) }
    }
}
