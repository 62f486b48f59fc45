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
/// so the tree is made of references and resolved at the end. Children live in arrays owned by
/// the node, appended in place (no copy per element).
private final class EncodingNode {
    enum Kind { case empty, value, keyed, unkeyed }
    var kind = Kind.empty
    var value = MessagePackValue.nil_
    var keys: [String] = []
    var children: [EncodingNode] = []
    /// Key → index in `children`, for keyed nodes (a key set twice keeps its first place).
    var index: [String: Int] = [:]

    func set(_ value: MessagePackValue) {
        kind = .value
        self.value = value
    }

    func resolved() -> MessagePackValue {
        switch kind {
        case .empty: return .nil_
        case .value: return value
        case .keyed: return .map(zip(keys, children).map { (.string($0), $1.resolved()) })
        case .unkeyed: return .array(children.map { $0.resolved() })
        }
    }

    func child(forKey key: String) -> EncodingNode {
        if let i = index[key] { return children[i] }
        let node = EncodingNode()
        index[key] = children.count
        keys.append(key)
        children.append(node)
        return node
    }

    func appendChild() -> EncodingNode {
        let node = EncodingNode()
        children.append(node)
        return node
    }
}

private struct TreeEncoder: Encoder {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if node.kind != .keyed { node.kind = .keyed; node.keys = []; node.children = []; node.index = [:] }
        return KeyedEncodingContainer(KeyedContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if node.kind != .unkeyed { node.kind = .unkeyed; node.children = [] }
        return UnkeyedContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(node: node, codingPath: codingPath)
    }
}

/// Converts a primitive or nested `Encodable` into a node's content.
private func store(_ value: some Encodable, in node: EncodingNode, codingPath: [any CodingKey]) throws {
    switch value {
    case let v as Bool: node.set(.bool(v))
    case let v as String: node.set(.string(v))
    case let v as Double: node.set(.double(v))
    case let v as Float: node.set(.float(v))
    case let v as Int: node.set(.int(Int64(v)))
    case let v as Int8: node.set(.int(Int64(v)))
    case let v as Int16: node.set(.int(Int64(v)))
    case let v as Int32: node.set(.int(Int64(v)))
    case let v as Int64: node.set(.int(v))
    case let v as UInt: node.set(.uint(UInt64(v)))
    case let v as UInt8: node.set(.uint(UInt64(v)))
    case let v as UInt16: node.set(.uint(UInt64(v)))
    case let v as UInt32: node.set(.uint(UInt64(v)))
    case let v as UInt64: node.set(.uint(v))
    case let v as MessagePackValue: node.set(v)
    default: try value.encode(to: TreeEncoder(node: node, codingPath: codingPath))
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodingNode
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { node.child(forKey: key.stringValue).set(.nil_) }
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
    var count: Int { node.children.count }

    mutating func encodeNil() throws { node.appendChild().set(.nil_) }
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
    mutating func encodeNil() throws { node.set(.nil_) }
    mutating func encode(_ value: some Encodable) throws { try store(value, in: node, codingPath: codingPath) }
}
