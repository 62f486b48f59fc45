/// The frame around every Patchwork message: a MessagePack map
/// `{"v": protocol version, "type": name, "body": payload}`.
enum Envelope {
    /// The version spoken by this build. Raise it for any incompatible change of a message.
    static let protocolVersion = 1

    static func encode(type: String, body: MessagePackValue) -> [UInt8] {
        MessagePackValue.map([
            (.string("v"), .int(Int64(protocolVersion))), (.string("type"), .string(type)), (.string("body"), body),
        ]).encoded()
    }

    static func decode(_ bytes: [UInt8]) throws(WireMessageError) -> (type: String, body: MessagePackValue) {
        let value: MessagePackValue
        do { value = try MessagePackValue(decoding: bytes) } catch { throw .malformed("\(error)") }
        guard let version = value["v"]?.int64Value else { throw .malformed("no protocol version") }
        guard version == protocolVersion else { throw .versionMismatch(peer: Int(version), ours: protocolVersion) }
        guard let type = value["type"]?.stringValue, let body = value["body"] else { throw .malformed("no type or body") }
        return (type, body)
    }

    /// Decodes a body, mapping failures to ``WireMessageError``.
    static func body<T: Decodable>(_ type: T.Type, _ value: MessagePackValue, in message: String) throws(WireMessageError) -> T {
        do { return try MessagePackDecoder().decode(T.self, from: value) } catch { throw .malformed("\(message): \(error)") }
    }
}

/// Why bytes are not a message this build accepts.
public enum WireMessageError: Error, Equatable, CustomStringConvertible {
    case versionMismatch(peer: Int, ours: Int)
    case unknownType(String)
    case malformed(String)

    public var description: String {
        switch self {
        case .versionMismatch(let peer, let ours): return "peer speaks protocol version \(peer), this build speaks \(ours)"
        case .unknownType(let type): return "unknown message type '\(type)'"
        case .malformed(let detail): return "malformed message: \(detail)"
        }
    }
}
