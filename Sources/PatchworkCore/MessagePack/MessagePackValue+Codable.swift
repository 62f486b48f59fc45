/// `MessagePackValue` passes through ``MessagePackEncoder`` and ``MessagePackDecoder`` unchanged
/// (they special-case it); other coders see its natural JSON-like shape.
extension MessagePackValue: Codable {
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .nil_:
            var c = encoder.singleValueContainer(); try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer(); try c.encode(b)
        case .int(let i):
            var c = encoder.singleValueContainer(); try c.encode(i)
        case .uint(let u):
            var c = encoder.singleValueContainer(); try c.encode(u)
        case .float(let f):
            var c = encoder.singleValueContainer(); try c.encode(f)
        case .double(let d):
            var c = encoder.singleValueContainer(); try c.encode(d)
        case .string(let s):
            var c = encoder.singleValueContainer(); try c.encode(s)
        case .binary(let bytes), .ext(_, let bytes):
            var c = encoder.singleValueContainer(); try c.encode(bytes)
        case .array(let items):
            var c = encoder.singleValueContainer(); try c.encode(items)
        case .map(let pairs):
            var c = encoder.container(keyedBy: AnyKey.self)
            for (k, v) in pairs { try c.encode(v, forKey: AnyKey(k.stringValue ?? "\(k)")) }
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .nil_ }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let u = try? c.decode(UInt64.self) { self = .uint(u) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([MessagePackValue].self) { self = .array(a) }
        else {
            let m = try c.decode([String: MessagePackValue].self)
            self = .map(m.sorted { $0.key < $1.key }.map { (.string($0.key), $0.value) })
        }
    }

    private struct AnyKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
