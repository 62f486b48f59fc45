/// A loaded adapter as the cluster sees it: in heartbeats, adapter events and the cluster view.
public struct AdapterSummary: Codable, Sendable, Equatable {
    public var name: AdapterName
    public var loraID: LoRAID
    /// The URI it was loaded from (`file://…`, `s3://…`, `hf://…`).
    public var source: String
    public var digest: ContentDigest
    public var rank: Int
    public var alpha: Double
    /// Module names the adapter changes (`q_proj`, `v_proj`, …), sorted.
    public var targetModules: [String]
    /// Bytes of weights.
    public var bytes: Int

    public init(
        name: AdapterName, loraID: LoRAID, source: String, digest: ContentDigest, rank: Int, alpha: Double,
        targetModules: [String], bytes: Int
    ) {
        self.name = name
        self.loraID = loraID
        self.source = source
        self.digest = digest
        self.rank = rank
        self.alpha = alpha
        self.targetModules = targetModules
        self.bytes = bytes
    }
}
