/// Errors met while reading MessagePack bytes or mapping values onto types.
public enum MessagePackError: Error, Equatable, CustomStringConvertible {
    case truncated(offset: Int)
    case invalidByte(UInt8, offset: Int)
    case invalidUTF8(offset: Int)
    case trailingBytes(count: Int)
    case tooDeep(limit: Int)
    case typeMismatch(expected: String, found: String, path: String)
    case missingKey(String, path: String)

    public var description: String {
        switch self {
        case .truncated(let offset): return "MessagePack data ends early at byte \(offset)"
        case .invalidByte(let byte, let offset): return "MessagePack byte 0x\(String(byte, radix: 16)) at \(offset) is not a valid type"
        case .invalidUTF8(let offset): return "MessagePack string at byte \(offset) is not UTF-8"
        case .trailingBytes(let count): return "\(count) bytes follow the MessagePack value"
        case .tooDeep(let limit): return "MessagePack nesting exceeds \(limit) levels"
        case .typeMismatch(let expected, let found, let path): return "expected \(expected) but found \(found) at \(path.isEmpty ? "<root>" : path)"
        case .missingKey(let key, let path): return "missing key '\(key)' at \(path.isEmpty ? "<root>" : path)"
        }
    }
}

extension MessagePackValue {
    /// The bytes of this value in the MessagePack format, each value in its shortest form.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        write(into: &out)
        return out
    }

    /// Reads exactly one value from `bytes`; trailing bytes are an error.
    public init(decoding bytes: some Collection<UInt8>) throws(MessagePackError) {
        let buffer = Array(bytes)
        var reader = Reader(bytes: buffer)
        self = try reader.readValue(depth: 0)
        if reader.offset != buffer.count { throw .trailingBytes(count: buffer.count - reader.offset) }
    }

    private func write(into out: inout [UInt8]) {
        switch self {
        case .nil_: out.append(0xc0)
        case .bool(let b): out.append(b ? 0xc3 : 0xc2)
        case .int(let i):
            if i >= 0 { Self.writeUnsigned(UInt64(i), into: &out) } else { Self.writeNegative(i, into: &out) }
        case .uint(let u): Self.writeUnsigned(u, into: &out)
        case .float(let f): out.append(0xca); Self.appendBigEndian(UInt64(f.bitPattern), bytes: 4, into: &out)
        case .double(let d): out.append(0xcb); Self.appendBigEndian(d.bitPattern, bytes: 8, into: &out)
        case .string(let s):
            let utf8 = Array(s.utf8)
            Self.writeHeader(count: utf8.count, fix: (0xa0, 31), sizes: (0xd9, 0xda, 0xdb), into: &out)
            out.append(contentsOf: utf8)
        case .binary(let b):
            Self.writeHeader(count: b.count, fix: nil, sizes: (0xc4, 0xc5, 0xc6), into: &out)
            out.append(contentsOf: b)
        case .array(let a):
            Self.writeHeader(count: a.count, fix: (0x90, 15), sizes: (nil, 0xdc, 0xdd), into: &out)
            for v in a { v.write(into: &out) }
        case .map(let m):
            Self.writeHeader(count: m.count, fix: (0x80, 15), sizes: (nil, 0xde, 0xdf), into: &out)
            for (k, v) in m { k.write(into: &out); v.write(into: &out) }
        case .ext(let type, let data):
            switch data.count {
            case 1: out.append(0xd4)
            case 2: out.append(0xd5)
            case 4: out.append(0xd6)
            case 8: out.append(0xd7)
            case 16: out.append(0xd8)
            default: Self.writeHeader(count: data.count, fix: nil, sizes: (0xc7, 0xc8, 0xc9), into: &out)
            }
            out.append(UInt8(bitPattern: type))
            out.append(contentsOf: data)
        }
    }

    private static func writeUnsigned(_ u: UInt64, into out: inout [UInt8]) {
        switch u {
        case 0...0x7f: out.append(UInt8(u))
        case 0x80...0xff: out.append(0xcc); out.append(UInt8(u))
        case 0x100...0xffff: out.append(0xcd); appendBigEndian(u, bytes: 2, into: &out)
        case 0x1_0000...0xffff_ffff: out.append(0xce); appendBigEndian(u, bytes: 4, into: &out)
        default: out.append(0xcf); appendBigEndian(u, bytes: 8, into: &out)
        }
    }

    private static func writeNegative(_ i: Int64, into out: inout [UInt8]) {
        let bits = UInt64(bitPattern: i)
        switch i {
        case -32 ..< 0: out.append(UInt8(truncatingIfNeeded: bits))
        case -128 ..< -32: out.append(0xd0); appendBigEndian(bits, bytes: 1, into: &out)
        case -32768 ..< -128: out.append(0xd1); appendBigEndian(bits, bytes: 2, into: &out)
        case Int64(Int32.min) ..< -32768: out.append(0xd2); appendBigEndian(bits, bytes: 4, into: &out)
        default: out.append(0xd3); appendBigEndian(bits, bytes: 8, into: &out)
        }
    }

    /// Writes a length header: the fix form when it fits, else the 8/16/32-bit form.
    private static func writeHeader(
        count: Int, fix: (UInt8, Int)?, sizes: (UInt8?, UInt8, UInt8), into out: inout [UInt8]
    ) {
        if let (base, limit) = fix, count <= limit {
            out.append(base | UInt8(count))
        } else if let size8 = sizes.0, count <= 0xff {
            out.append(size8); out.append(UInt8(count))
        } else if count <= 0xffff {
            out.append(sizes.1); appendBigEndian(UInt64(count), bytes: 2, into: &out)
        } else {
            out.append(sizes.2); appendBigEndian(UInt64(count), bytes: 4, into: &out)
        }
    }

    private static func appendBigEndian(_ value: UInt64, bytes: Int, into out: inout [UInt8]) {
        for shift in stride(from: (bytes - 1) * 8, through: 0, by: -8) {
            out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }

    /// A bounds-checked cursor over MessagePack bytes.
    private struct Reader {
        static let maxDepth = 512
        let bytes: [UInt8]
        var offset = 0

        mutating func readValue(depth: Int) throws(MessagePackError) -> MessagePackValue {
            guard depth < Self.maxDepth else { throw .tooDeep(limit: Self.maxDepth) }
            let start = offset
            let byte = try take(1)[0]
            switch byte {
            case 0x00...0x7f: return .int(Int64(byte))
            case 0x80...0x8f: return try readMap(count: Int(byte & 0x0f), depth: depth)
            case 0x90...0x9f: return try readArray(count: Int(byte & 0x0f), depth: depth)
            case 0xa0...0xbf: return try readString(count: Int(byte & 0x1f))
            case 0xc0: return .nil_
            case 0xc2: return .bool(false)
            case 0xc3: return .bool(true)
            case 0xc4, 0xc5, 0xc6: return .binary(try take(try readLength(byte - 0xc4)))
            case 0xc7, 0xc8, 0xc9:
                let count = try readLength(byte - 0xc7)
                let type = Int8(bitPattern: try take(1)[0])
                return .ext(type: type, data: try take(count))
            case 0xca: return .float(Float(bitPattern: UInt32(try readUnsigned(4))))
            case 0xcb: return .double(Double(bitPattern: try readUnsigned(8)))
            case 0xcc: return .int(Int64(try readUnsigned(1)))
            case 0xcd: return .int(Int64(try readUnsigned(2)))
            case 0xce: return .int(Int64(try readUnsigned(4)))
            case 0xcf:
                let u = try readUnsigned(8)
                return u <= UInt64(Int64.max) ? .int(Int64(u)) : .uint(u)
            case 0xd0: return .int(Int64(Int8(truncatingIfNeeded: try readUnsigned(1))))
            case 0xd1: return .int(Int64(Int16(truncatingIfNeeded: try readUnsigned(2))))
            case 0xd2: return .int(Int64(Int32(truncatingIfNeeded: try readUnsigned(4))))
            case 0xd3: return .int(Int64(bitPattern: try readUnsigned(8)))
            case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
                let type = Int8(bitPattern: try take(1)[0])
                return .ext(type: type, data: try take(1 << Int(byte - 0xd4)))
            case 0xd9, 0xda, 0xdb: return try readString(count: try readLength(byte - 0xd9))
            case 0xdc, 0xdd: return try readArray(count: try readLength(byte - 0xdc + 1), depth: depth)
            case 0xde, 0xdf: return try readMap(count: try readLength(byte - 0xde + 1), depth: depth)
            case 0xe0...0xff: return .int(Int64(Int8(bitPattern: byte)))
            default: throw .invalidByte(byte, offset: start)
            }
        }

        /// Reads a 1, 2 or 4 byte big-endian length (`sizeClass` 0, 1, 2).
        mutating func readLength(_ sizeClass: UInt8) throws(MessagePackError) -> Int {
            Int(try readUnsigned(1 << Int(sizeClass)))
        }

        mutating func readUnsigned(_ count: Int) throws(MessagePackError) -> UInt64 {
            var value: UInt64 = 0
            for b in try take(count) { value = value << 8 | UInt64(b) }
            return value
        }

        mutating func take(_ count: Int) throws(MessagePackError) -> [UInt8] {
            guard count >= 0, count <= bytes.count - offset else { throw .truncated(offset: offset) }
            defer { offset += count }
            return Array(bytes[offset ..< offset + count])
        }

        mutating func readString(count: Int) throws(MessagePackError) -> MessagePackValue {
            let start = offset
            guard let s = String(validating: try take(count), as: UTF8.self) else { throw .invalidUTF8(offset: start) }
            return .string(s)
        }

        mutating func readArray(count: Int, depth: Int) throws(MessagePackError) -> MessagePackValue {
            // Each element takes at least one byte: refuse counts the data cannot hold.
            guard count <= bytes.count - offset else { throw .truncated(offset: offset) }
            var items: [MessagePackValue] = []
            items.reserveCapacity(count)
            for _ in 0 ..< count { items.append(try readValue(depth: depth + 1)) }
            return .array(items)
        }

        mutating func readMap(count: Int, depth: Int) throws(MessagePackError) -> MessagePackValue {
            guard count <= (bytes.count - offset) / 2 else { throw .truncated(offset: offset) }
            var pairs: [(MessagePackValue, MessagePackValue)] = []
            pairs.reserveCapacity(count)
            for _ in 0 ..< count {
                let key = try readValue(depth: depth + 1)
                pairs.append((key, try readValue(depth: depth + 1)))
            }
            return .map(pairs)
        }
    }
}
