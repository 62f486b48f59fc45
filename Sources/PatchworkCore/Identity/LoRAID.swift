/// The numeric id of an adapter (`lora_id` in the seed's API and in vLLM's events).
///
/// Derived from the name alone, so every worker and every restart gives one name the same id:
/// `1 + (FNV-1a-64(UTF-8 bytes of the name) mod (2^31 - 1))`. The result is in `1 ... 2^31 - 1`:
/// never zero (vLLM reserves 0 for "no adapter") and it fits a signed 32-bit integer.
public struct LoRAID: RawRepresentable, Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public let rawValue: Int

    public init(name: AdapterName) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a 64 offset basis
        for byte in name.rawValue.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3  // FNV-1a 64 prime
        }
        rawValue = 1 + Int(hash % UInt64(Int32.max))
    }

    public init(rawValue: Int) { self.rawValue = rawValue }

    public var description: String { String(rawValue) }
    public static func < (lhs: LoRAID, rhs: LoRAID) -> Bool { lhs.rawValue < rhs.rawValue }

}
