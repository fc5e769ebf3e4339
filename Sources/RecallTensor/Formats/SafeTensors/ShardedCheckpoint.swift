import Foundation

/// A checkpoint split over several safetensors files, tied together by an index JSON
/// (`model.safetensors.index.json`: `{"metadata": {...}, "weight_map": {tensor: shard file}}`).
///
/// Every shard is opened and validated up front, and the index must agree with the shards:
/// a shard it names must exist, every tensor it maps must be in that shard, and every tensor
/// in a shard must be in the map.
public final class ShardedCheckpoint: TensorSource, @unchecked Sendable {
    public let indexURL: URL
    public let shards: [SafeTensorsFile]
    public let infos: [TensorInfo]
    /// The index's own `metadata` object, values rendered as strings.
    public let metadata: [(String, String)]
    private let location: [String: (shard: Int, index: Int)]

    public init(indexURL: URL) throws {
        self.indexURL = indexURL
        let path = indexURL.path
        func bad(_ why: String) -> RecallError { RecallError(.invalidFile, "\(path): \(why)") }
        let data: Data
        do { data = try Data(contentsOf: indexURL) } catch {
            throw RecallError(.notFound, "\(path): cannot read the index (\(error.localizedDescription))")
        }
        let json: JSONValue
        do { json = try JSONValue.parse(data) } catch { throw bad("index is not valid JSON (\(error))") }
        guard let map = json["weight_map"]?.objectValue else {
            throw bad("missing object field weight_map; is this a sharded-checkpoint index?")
        }
        var meta: [(String, String)] = []
        for (k, v) in json["metadata"]?.objectValue ?? [] {
            meta.append((k, v.stringValue ?? v.serialized()))
        }
        metadata = meta

        let dir = indexURL.deletingLastPathComponent()
        var shardOrder: [String] = []
        var shardOf: [String: String] = [:]
        for (tensor, v) in map {
            guard let file = v.stringValue else { throw bad("weight_map[\"\(tensor)\"] is not a file name") }
            guard !file.isEmpty, !file.contains("/"), file != "..", file != "." else {
                throw bad("weight_map[\"\(tensor)\"] = \"\(file)\" is not a plain file name in the index's directory")
            }
            if !shardOrder.contains(file) { shardOrder.append(file) }
            shardOf[tensor] = file
        }
        shardOrder.sort()
        var shards: [SafeTensorsFile] = []
        for file in shardOrder {
            let url = dir.appendingPathComponent(file)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw bad("shard \"\(file)\" named by weight_map is missing from \(dir.path)")
            }
            shards.append(try SafeTensorsFile(url: url))
        }
        var location: [String: (Int, Int)] = [:]
        var infos: [TensorInfo] = []
        for (s, shard) in shards.enumerated() {
            for (i, info) in shard.infos.enumerated() {
                guard let mapped = shardOf[info.name] else {
                    throw bad("shard \"\(shardOrder[s])\" holds tensor \"\(info.name)\" that weight_map does not list")
                }
                guard mapped == shardOrder[s] else {
                    throw bad("tensor \"\(info.name)\" is in shard \"\(shardOrder[s])\" but weight_map says \"\(mapped)\"")
                }
                location[info.name] = (s, i)
                infos.append(info)
            }
        }
        for (tensor, file) in shardOf where location[tensor] == nil {
            throw bad("weight_map lists tensor \"\(tensor)\" in \"\(file)\" but that shard does not hold it")
        }
        self.shards = shards
        self.infos = infos
        self.location = location
    }

    public func tensor(named name: String) throws -> TensorView {
        guard let loc = location[name] else { throw RecallError(.notFound, "\(indexURL.path): no tensor named \"\(name)\"") }
        return shards[loc.shard].tensor(at: loc.index)
    }

    /// Which shard file holds `name`.
    public func shardFile(of name: String) -> String? {
        location[name].map { shards[$0.shard].url.lastPathComponent }
    }
}
