import Foundation
import Hummingbird
import RecallTensor
import RecallStore
import RecallAPI

/// Health, metrics, status, init, and the store's verify and gc.
extension Routes {
    /// `GET /v1/health`
    var health: Route.Handler {
        { _, _ in API.json(HealthReply(version: RecallVersion.string)) }
    }

    /// `GET /metrics`: Prometheus text.
    var metricsText: Route.Handler {
        { _, _ in
            await handle {
                let text = try await API.blocking { try metrics.render(registry) }
                return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: text)))
            }
        }
    }

    /// `GET /v1/status`
    var status: Route.Handler {
        { _, _ in
            await handle { API.json(try await API.blocking { try registry.status(hidingPaths: remote) }) }
        }
    }

    /// `POST /v1/init`: Unix socket only (the base is a directory on the daemon's machine).
    var initialise: Route.Handler {
        { request, _ in
            await handle {
                try refusePath("the registry cannot be initialised (its base is a directory on the daemon's machine): run `recallctl init` there, over the Unix socket")
                let body = try InitRequest(json: try await API.body(request, limit: limits.maxJSONBytes))
                guard let scenario = RegistrySettings.Scenario(rawValue: body.scenario) else {
                    throw APIError(.badRequest, "field \"scenario\": '\(body.scenario)' must be experts or sequential")
                }
                let version = try await API.blocking {
                    try registry.initialize(base: URL(fileURLWithPath: body.base), method: body.method, scenario: scenario,
                                            options: body.options, gatePoints: body.gate, evalMetric: try EvalMetric.parse(body.evalMetric))
                }
                return API.json(InitReply(version: version.number, method: body.method, scenario: scenario.rawValue), status: .created)
            }
        }
    }

    /// `POST /v1/verify`
    var verify: Route.Handler {
        { _, _ in
            await handle { API.json(try await API.blocking { try registry.verifyStore() }) }
        }
    }

    /// `POST /v1/gc`
    var gc: Route.Handler {
        { _, _ in
            await handle { API.json(try await API.blocking { try registry.collectGarbage() }) }
        }
    }
}
