/// One MessagePack value, as a tree.
///
/// Every message between Patchwork processes, and the KV events in vLLM's wire format, is
/// MessagePack. Values are built with ``MessagePackEncoder`` from `Codable` types and read back
/// with ``MessagePackDecoder``; ``MessagePackValue/encoded()`` and
/// ``MessagePackValue/init(decoding:)`` convert to and from bytes.
public enum MessagePackValue: Hashable, Sendable {
    case nil_
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case float(Float)
    case double(Double)
    case string(String)
    case binary([UInt8])
    case array([MessagePackValue])
    /// Key order is kept: maps are written in the order they were built.
    case map([(MessagePackValue, MessagePackValue)])
    case ext(type: Int8, data: [UInt8])

    public static func == (lhs: MessagePackValue, rhs: MessagePackValue) -> Bool {
        switch (lhs, rhs) {
        case (.nil_, .nil_): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.uint(a), .uint(b)): return a == b
        case let (.int(a), .uint(b)), let (.uint(b), .int(a)): return a >= 0 && UInt64(a) == b
        case let (.float(a), .float(b)): return a == b
        case let (.double(a), .double(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.binary(a), .binary(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.map(a), .map(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case let (.ext(t1, d1), .ext(t2, d2)): return t1 == t2 && d1 == d2
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .nil_: hasher.combine(0)
        case .bool(let b): hasher.combine(b)
        case .int(let i): if i >= 0 { hasher.combine(UInt64(i)) } else { hasher.combine(i) }
        case .uint(let u): hasher.combine(u)
        case .float(let f): hasher.combine(f)
        case .double(let d): hasher.combine(d)
        case .string(let s): hasher.combine(s)
        case .binary(let b): hasher.combine(b)
        case .array(let a): hasher.combine(a)
        case .map(let m):
            hasher.combine(m.count)
            for (k, v) in m { hasher.combine(k); hasher.combine(v) }
        case .ext(let t, let d): hasher.combine(t); hasher.combine(d)
        }
    }
}

extension MessagePackValue {
    /// The value under a string key, when this is a map.
    public subscript(key: String) -> MessagePackValue? {
        guard case .map(let pairs) = self else { return nil }
        for (k, v) in pairs where k == .string(key) { return v }
        return nil
    }

    /// The value as a signed integer, when it is an integer that fits.
    public var int64Value: Int64? {
        switch self {
        case .int(let i): return i
        case .uint(let u): return u <= UInt64(Int64.max) ? Int64(u) : nil
        default: return nil
        }
    }

    /// The value as a string, when it is one.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}

extension MessagePackValue {
    /// The value as a double, when it is any number.
    public var doubleValue: Double? {
        switch self {
        case .double(let d): return d
        case .float(let f): return Double(f)
        case .int(let i): return Double(i)
        case .uint(let u): return Double(u)
        default: return nil
        }
    }

    /// The elements, when this is an array.
    public var arrayValue: [MessagePackValue]? {
        if case .array(let items) = self { return items }
        return nil
    }
}
