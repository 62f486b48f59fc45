import Foundation
import Hummingbird
import Logging
import NIOCore
import PatchworkAdapters
import PatchworkCore
import PatchworkRuntime

/// `POST/GET/DELETE /v1/loras`: the adapter API, with the seed's JSON shapes and proper statuses.
struct LoRARoutes: Sendable {
    /// Load requests are small JSON objects; anything larger is refused unread.
    static let maxBodyBytes = 64 << 10

    let adapters: AdapterRegistry
    /// Waits (bounded) until the routers applied the adapter changes made so far, so that a
    /// client's next call through a frontend meets a cluster that knows of the change.
    let routersApplied: @Sendable () async -> Bool
    let logger: Logger

    func add(to router: Router<BasicRequestContext>) {
        router.post("/v1/loras") { request, _ in await self.load(request) }
        router.get("/v1/loras") { _, _ in await self.list() }
        router.get("/v1/loras/**") { _, context in await self.details(Self.name(from: context)) }
        router.delete("/v1/loras/**") { _, context in await self.unload(Self.name(from: context)) }
    }

    private static func name(from context: BasicRequestContext) -> String {
        // Names may contain '/', so they arrive as several path segments.
        context.parameters.getCatchAll().joined(separator: "/").removingPercentEncoding ?? ""
    }

    struct LoadRequest: Decodable {
        struct Source: Decodable { var uri: String }
        var lora_name: String
        var source: Source
        /// Keep it resident whatever the load.
        var pinned: Bool?
    }

    func load(_ request: Request) async -> Response {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxBodyBytes)
        } catch {
            return failure(AdapterError(.badRequest, "request body exceeds \(Self.maxBodyBytes) bytes"), name: nil)
        }
        let parsed: LoadRequest
        do {
            parsed = try JSONDecoder().decode(LoadRequest.self, from: Data(body.readableBytesView))
        } catch {
            return failure(AdapterError(.badRequest, "request body must be JSON {\"lora_name\": \"...\", \"source\": {\"uri\": \"...\"}}: \(Self.describe(error))"), name: nil)
        }
        do {
            let outcome = try await adapters.load(name: parsed.lora_name, uri: parsed.source.uri, pinned: parsed.pinned ?? false)
            await announced(parsed.lora_name)
            switch outcome {
            case .loaded(let record):
                return .json(Outcome(message: "LoRA adapter '\(record.name)' loaded successfully", record: record), status: .ok)
            case .alreadyLoaded(let record):
                return .json(Outcome(message: "LoRA adapter '\(record.name)' is already loaded", record: record), status: .ok)
            }
        } catch {
            return failure(error, name: parsed.lora_name)
        }
    }

    func list() async -> Response {
        struct Listing: Encodable { var status = "success"; var loras: [String: Int]; var count: Int }
        let loaded = adapters.enabled ? await adapters.loaded() : []
        return .json(Listing(loras: Dictionary(uniqueKeysWithValues: loaded.map { ($0.name.rawValue, $0.loraID.rawValue) }), count: loaded.count), status: .ok)
    }

    func details(_ name: String) async -> Response {
        do {
            switch try await adapters.state(of: name) {
            case .loading(let source, let since):
                var details = Details(name: name, state: "loading", source: source.description, record: nil, since: since)
                details.progress = await adapters.downloadProgress(of: name).map(Details.Progress.init)
                return .json(details, status: .ok)
            case .loaded(let record):
                return .json(Details(name: name, state: "loaded", source: record.source.description, record: record, since: record.loadedAt), status: .ok)
            }
        } catch {
            return failure(error, name: name)
        }
    }

    func unload(_ name: String) async -> Response {
        do {
            let record = try await adapters.unload(name: name)
            await announced(name)
            return .json(Outcome(message: "LoRA adapter '\(record.name)' unloaded successfully", record: record), status: .ok)
        } catch {
            return failure(error, name: name)
        }
    }

    private func announced(_ name: String) async {
        if !(await routersApplied()) {
            logger.warning("a router did not confirm an adapter change in time", metadata: ["adapter.name": "\(name)"])
        }
    }

    /// The seed's success shape.
    struct Outcome: Encodable {
        var status = "success"
        var message: String
        var lora_name: String
        var lora_id: Int

        init(message: String, record: AdapterRecord) {
            self.message = message
            lora_name = record.name.rawValue
            lora_id = record.loraID.rawValue
        }
    }

    /// `GET /v1/loras/{name}`.
    struct Details: Encodable {
        var status = "success"
        var lora_name: String
        var lora_id: Int?
        var state: String
        var source: String
        var since: Double
        var rank: Int?
        var alpha: Double?
        var scale: Double?
        var target_modules: [String]?
        var layers: Int?
        var bytes: Int?
        var digest: String?
        var base_model_name_or_path: String?
        /// While an s3:// or hf:// source downloads.
        var progress: Progress?

        struct Progress: Encodable {
            var bytes_done: Int64
            var bytes_total: Int64?
            var files_done: Int
            var files_total: Int?

            init(_ snapshot: DownloadProgress.Snapshot) {
                bytes_done = snapshot.bytesDone
                bytes_total = snapshot.bytesTotal
                files_done = snapshot.filesDone
                files_total = snapshot.filesTotal
            }
        }

        init(name: String, state: String, source: String, record: AdapterRecord?, since: Double) {
            lora_name = name
            self.state = state
            self.source = source
            self.since = since
            if let record {
                lora_id = record.loraID.rawValue
                rank = record.validated.rank
                alpha = record.validated.alpha
                scale = record.validated.scale
                target_modules = record.validated.targetModules
                layers = record.validated.layers.count
                bytes = record.validated.weightBytes
                digest = record.digest.description
                base_model_name_or_path = record.baseModelNameOrPath
            }
        }
    }

    /// The seed's error shape, with a real status code.
    private func failure(_ error: AdapterError, name: String?) -> Response {
        struct Failure: Encodable { var status = "error"; var message: String; var lora_name: String? }
        if error.kind == .internalFailure {
            logger.error("adapter operation failed", metadata: ["adapter.name": "\(name ?? "")", "error": "\(error.message)"])
        } else {
            logger.notice("adapter request refused", metadata: ["adapter.name": "\(name ?? "")", "status": "\(error.httpStatus)", "error": "\(error.message)"])
        }
        let message = error.kind == .internalFailure ? "internal error while handling adapter '\(name ?? "")'; see the worker log" : error.message
        return .json(Failure(message: message, lora_name: name), status: .init(code: error.httpStatus))
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context): return "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
        case DecodingError.valueNotFound(_, let context): return "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' is null"
        default: return "not valid JSON"
        }
    }
}
