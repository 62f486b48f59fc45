/// Encodes `Encodable` values as MessagePack: structs become maps (keys in declaration order),
/// arrays become arrays, `nil` optionals are left out.
public struct MessagePackEncoder: Sendable {
    public init() {}

    /// The MessagePack bytes of `value`.
    public func encode(_ value: some Encodable) throws -> [UInt8] {
        try encodeValue(value).encoded()
    }

    /// The MessagePack value tree of `value`.
    public func encodeValue(_ value: some Encodable) throws -> MessagePackValue {
        let node = EncodingNode()
        try value.encode(to: TreeEncoder(node: node, codingPath: []))
        return node.resolved()
    }
}

/// A node of the tree being built; containers may still be written after they are handed out,
/// so the tree is made of references and resolved at the end.
private final class EncodingNode {
    enum Content {
        case empty
        case value(MessagePackValue)
        case keyed([(String, EncodingNode)])
        case unkeyed([EncodingNode])
    }
    var content: Content = .empty

    func resolved() -> MessagePackValue {
        switch content {
        case .empty: return .nil_
        case .value(let v): return v
        case .keyed(let pairs): return .map(pairs.map { (.string($0.0), $0.1.resolved()) })
        case .unkeyed(let items): return .array(items.map { $0.resolved() })
        }
    }

    func child(forKey key: String) -> EncodingNode {
        var pairs: [(String, EncodingNode)]
        if case .keyed(let existing) = content { pairs = existing } else { pairs = [] }
        if let found = pairs.first(where: { $0.0 == key }) { return found.1 }
        let node = EncodingNode()
        pairs.append((key, node))
        content = .keyed(pairs)
        return node
    }

    func appendChild() -> EncodingNode {
        var items: [EncodingNode]
        if case .unkeyed(let existing) = content { items = existing } else { items = [] }
        let node = EncodingNode()
        items.append(node)
        content = .unkeyed(items)
        return node
    }
}

private struct TreeEncoder: Encoder {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .keyed = node.content {} else { node.content = .keyed([]) }
        return KeyedEncodingContainer(KeyedContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .unkeyed = node.content {} else { node.content = .unkeyed([]) }
        return UnkeyedContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(node: node, codingPath: codingPath)
    }
}

/// Converts a primitive or nested `Encodable` into a node's content.
private func store(_ value: some Encodable, in node: EncodingNode, codingPath: [any CodingKey]) throws {
    switch value {
    case let v as Bool: node.content = .value(.bool(v))
    case let v as String: node.content = .value(.string(v))
    case let v as Double: node.content = .value(.double(v))
    case let v as Float: node.content = .value(.float(v))
    case let v as Int: node.content = .value(.int(Int64(v)))
    case let v as Int8: node.content = .value(.int(Int64(v)))
    case let v as Int16: node.content = .value(.int(Int64(v)))
    case let v as Int32: node.content = .value(.int(Int64(v)))
    case let v as Int64: node.content = .value(.int(v))
    case let v as UInt: node.content = .value(.uint(UInt64(v)))
    case let v as UInt8: node.content = .value(.uint(UInt64(v)))
    case let v as UInt16: node.content = .value(.uint(UInt64(v)))
    case let v as UInt32: node.content = .value(.uint(UInt64(v)))
    case let v as UInt64: node.content = .value(.uint(v))
    case let v as MessagePackValue: node.content = .value(v)
    default: try value.encode(to: TreeEncoder(node: node, codingPath: codingPath))
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodingNode
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { node.child(forKey: key.stringValue).content = .value(.nil_) }
    mutating func encode(_ value: some Encodable, forKey key: Key) throws {
        try store(value, in: node.child(forKey: key.stringValue), codingPath: codingPath + [key])
    }
    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        TreeEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        TreeEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
    }
    mutating func superEncoder() -> any Encoder { TreeEncoder(node: node.child(forKey: "super"), codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> any Encoder {
        TreeEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key])
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    var count: Int {
        if case .unkeyed(let items) = node.content { return items.count }
        return 0
    }

    mutating func encodeNil() throws { node.appendChild().content = .value(.nil_) }
    mutating func encode(_ value: some Encodable) throws {
        try store(value, in: node.appendChild(), codingPath: codingPath)
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        TreeEncoder(node: node.appendChild(), codingPath: codingPath).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        TreeEncoder(node: node.appendChild(), codingPath: codingPath).unkeyedContainer()
    }
    mutating func superEncoder() -> any Encoder { TreeEncoder(node: node.appendChild(), codingPath: codingPath) }
}

private struct SingleContainer: SingleValueEncodingContainer {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    mutating func encodeNil() throws { node.content = .value(.nil_) }
    mutating func encode(_ value: some Encodable) throws { try store(value, in: node, codingPath: codingPath) }
}
