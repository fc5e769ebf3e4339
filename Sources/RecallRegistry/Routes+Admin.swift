import Foundation
import Hummingbird
import RecallTensor
import RecallStore
import RecallAPI

/// Health, metrics, status, init, and the store's verify and gc.
extension Routes {
    func addAdminRoutes(to router: Router<BasicRequestContext>) {
        let registry = self.registry, limits = self.limits, metrics = self.metrics
        router.get("/v1/health") { _, _ in
            API.json(.object([("status", .string("ok")), ("version", .string(RecallVersion.string))]))
        }
        router.get("/metrics") { _, _ in
            await handle {
                let text = try await API.blocking { try metrics.render(registry) }
                return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: text)))
            }
        }
        router.get("/v1/status") { _, _ in
            await handle { API.json(try await API.blocking { try registry.statusJSON() }) }
        }
        router.post("/v1/init") { request, _ in
            await handle {
                try refusePath("the registry cannot be initialised (its base is a directory on the daemon's machine): run `recallctl init` there, over the Unix socket")
                let body = try InitRequest(json: try await API.body(request, limit: limits.maxJSONBytes))
                guard let scenario = RegistrySettings.Scenario(rawValue: body.scenario) else {
                    throw APIError(.badRequest, "field \"scenario\": '\(body.scenario)' must be experts or sequential")
                }
                let version = try await API.blocking {
                    try registry.initialize(base: URL(fileURLWithPath: body.base), method: body.method, scenario: scenario,
                                            options: body.options, gatePoints: body.gate, evalMetric: body.evalMetric)
                }
                return API.json(.object([("version", .int(version.number)), ("method", .string(body.method)),
                                         ("scenario", .string(scenario.rawValue))]), status: .created)
            }
        }
        router.post("/v1/verify") { _, _ in
            await handle {
                let report = try await API.blocking { try registry.store.verify() }
                return API.json(.object([
                    ("clean", .bool(report.isClean)), ("manifests", .int(report.manifests)), ("chunks_checked", .int(report.chunksChecked)),
                    ("missing", .array(report.missing.map { .string($0) })), ("corrupt", .array(report.corrupt.map { .string($0) })),
                    ("unreferenced_chunks", .int(report.unreferencedChunks)),
                ]))
            }
        }
        router.post("/v1/gc") { _, _ in
            await handle {
                let report = try await API.blocking { try registry.store.gc() }
                return API.json(.object([
                    ("removed_manifests", .int(report.removedManifests)), ("removed_chunks", .int(report.removedChunks)),
                    ("removed_bytes", .int(report.removedBytes)), ("kept_chunks", .int(report.keptChunks)),
                ]))
            }
        }
    }
}
