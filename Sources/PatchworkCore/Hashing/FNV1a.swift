/// FNV-1a, 64 bits: a fast, stable, non-cryptographic hash, for ids derived from names and for
/// keys of in-memory indexes (never where an adversary picks inputs that must not collide).
///
/// Inlinable: the router's prefix index hashes every prompt token with it, in a hot loop of
/// another module.
public struct FNV1a: Sendable {
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    public static let prime: UInt64 = 0x0000_0100_0000_01b3

    @usableFromInline var state: UInt64 = FNV1a.offsetBasis
    public var value: UInt64 { state }

    @inlinable public init() {}

    /// One byte folded into `hash`: for callers that keep several hashes in flight.
    @inlinable @inline(__always)
    public static func step(_ hash: UInt64, _ byte: UInt8) -> UInt64 { (hash ^ UInt64(byte)) &* prime }

    @inlinable public mutating func add(_ byte: UInt8) { state = Self.step(state, byte) }

    @inlinable public mutating func add(_ bytes: some Sequence<UInt8>) {
        for byte in bytes { add(byte) }
    }

    /// Four bytes, little-endian (token ids).
    @inlinable public mutating func add(uint32 word: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { add(UInt8(truncatingIfNeeded: word >> UInt32(shift))) }
    }

    @inlinable public static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var h = FNV1a()
        h.add(bytes)
        return h.value
    }
}
