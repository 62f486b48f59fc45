/// A string identity checked when it is made (``AdapterName``, ``ModelName``, ``RequestID``).
/// It travels as a plain string, and decoding runs the same check: a peer cannot plant a
/// malformed one.
public protocol CheckedIdentity: Hashable, Sendable, Codable, CustomStringConvertible {
    associatedtype Invalid: Error
    var rawValue: String { get }
    /// Validates `rawValue`.
    init(_ rawValue: String) throws(Invalid)
}

extension CheckedIdentity {
    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

extension CheckedIdentity where Self: Comparable {
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}
