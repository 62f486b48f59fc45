/// The numeric id of an adapter (`lora_id` in the seed's API and in vLLM's events).
///
/// Derived from the name alone, so every worker and every restart gives one name the same id:
/// `1 + (FNV-1a-64(UTF-8 bytes of the name) mod (2^31 - 1))`. The result is in `1 ... 2^31 - 1`:
/// never zero (vLLM reserves 0 for "no adapter") and it fits a signed 32-bit integer.
public struct LoRAID: RawRepresentable, Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public let rawValue: Int

    public init(name: AdapterName) {
        rawValue = 1 + Int(FNV1a.hash(name.rawValue.utf8) % UInt64(Int32.max))
    }

    public init(rawValue: Int) { self.rawValue = rawValue }

    public var description: String { String(rawValue) }
    public static func < (lhs: LoRAID, rhs: LoRAID) -> Bool { lhs.rawValue < rhs.rawValue }

}
