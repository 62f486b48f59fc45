import PatchworkCore
import PatchworkRouting
import PatchworkTesting

/// Workers, adapters and events for the routing tests, built from a few numbers.
enum Fixtures {
    static func card(model: String = "m", blockSize: Int = 4, lora: Bool = true, maxLoras: Int = 8) -> ModelCard {
        ModelCard(
            servedModelName: modelName(model), architecture: "llama", contextLength: 8192, kvBlockSize: blockSize,
            dimensions: ModelDimensions(layers: 30, hidden: 576, intermediate: 1536, heads: 9, kvHeads: 3, headDim: 64, vocabulary: 49152),
            lora: LoRACapabilities(enabled: lora, maxLoras: maxLoras, maxRank: 64), hasChatTemplate: true
        )
    }

    /// An adapter whose weights are named by `weights` (its digest is that byte 32 times).
    static func adapter(_ name: String, weights: UInt8 = 1, source: String? = nil) -> AdapterSummary {
        let name = try! AdapterName(name)
        return AdapterSummary(
            name: name, loraID: name.loraID, source: source ?? "file:///adapters/\(name)", digest: digest(weights),
            rank: 8, alpha: 16, targetModules: ["q_proj"], bytes: 1
        )
    }

    static func digest(_ weights: UInt8) -> ContentDigest { ContentDigest(bytes: Array(repeating: weights, count: 32)) }

    static func registration(
        _ id: String, model: String = "m", adapters: [AdapterSummary] = [], blockSize: Int = 4, lora: Bool = true,
        metrics: LoadMetrics = LoadMetrics(), snapshots: Bool = true, heartbeatInterval: Double = 1
    ) -> WorkerRegistration {
        WorkerRegistration(
            workerID: WorkerID(id), httpURL: "http://\(id)", servingEndpoint: snapshots ? "tcp://\(id):7100" : nil,
            model: card(model: model, blockSize: blockSize, lora: lora), adapters: adapters, metrics: metrics, heartbeatInterval: heartbeatInterval
        )
    }

    /// The live workers a membership makes of `registrations`, by id.
    static func members(_ registrations: [WorkerRegistration]) -> [ClusterMembership.Member] {
        var membership = ClusterMembership(routerID: "r")
        for registration in registrations { membership.register(registration, peer: [1], now: 0) }
        return membership.members.values.sorted { $0.registration.workerID < $1.registration.workerID }
    }

    /// A chain of blocks from the root, as an engine publishes it: block hashes `hashes`,
    /// `tokens` (`blockSize` per block).
    static func stored(_ hashes: [UInt64], parent: UInt64? = nil, tokens: [Int], blockSize: Int = 4, lora: String? = nil) -> KVEvent {
        .blockStored(.init(
            blockHashes: hashes.map { .integer($0) }, parentBlockHash: parent.map { .integer($0) }, tokenIDs: tokens, blockSize: blockSize,
            loraID: nil, medium: "CPU", loraName: lora
        ))
    }

    static func route(_ tokens: [Int], model: String = "m", adapter: String? = nil, excluding: [String] = [], id: String = "r") -> RouteRequest {
        RouteRequest(requestID: requestID(id), model: modelName(model), adapter: adapter.map { try! AdapterName($0) }, promptIDs: tokens, excluding: excluding.map { WorkerID($0) })
    }
}
