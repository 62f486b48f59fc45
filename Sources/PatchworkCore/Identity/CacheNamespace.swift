/// Whose computation a cached KV block holds: the base model, or one adapter's *contents*.
///
/// Blocks are keyed by the adapter's content digest, not its name, so a reload of other weights
/// under the same name can never hit blocks computed with the old ones (the bug class of vLLM's
/// name-keyed prefix cache), and the same tokens under two adapters never share blocks.
public struct CacheNamespace: Hashable, Sendable {
    /// 32 bytes: the adapter's content digest, or SHA-256 of `"patchwork-base:" + model identity`.
    public let digest: [UInt8]
    /// For KV events: vLLM's `lora_name` and (deprecated) `lora_id`; nil for the base model.
    public let loraName: String?
    public let loraID: Int?

    /// The base model's namespace; `modelIdentity` names the model (served name and file digest).
    public static func base(modelIdentity: String) -> CacheNamespace {
        CacheNamespace(digest: SHA256.hash(Array("patchwork-base:\(modelIdentity)".utf8)), loraName: nil, loraID: nil)
    }

    public static func adapter(name: AdapterName, digest: ContentDigest) -> CacheNamespace {
        CacheNamespace(digest: digest.bytes, loraName: name.rawValue, loraID: name.loraID.rawValue)
    }
}
