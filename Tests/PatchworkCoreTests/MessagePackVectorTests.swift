import Foundation
import PatchworkCore
import PatchworkTesting
import Testing

/// The codec against bytes produced by Python's `msgpack` (Tests/Fixtures/make_vectors.py).
struct MessagePackVectorTests {
    struct Vector: Decodable { var value: Typed; var hex: String }

    /// The vector file's type-tagged JSON form of a value.
    indirect enum Typed: Decodable {
        case value(MessagePackValue)

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            let key = c.allKeys[0]
            switch key.stringValue {
            case "nil": self = .value(.nil_)
            case "bool": self = .value(.bool(try c.decode(Bool.self, forKey: key)))
            case "int":
                let text = try c.decode(String.self, forKey: key)
                self = .value(Int64(text).map { .int($0) } ?? .uint(UInt64(text)!))
            case "float64": self = .value(.double(Double(try c.decode(String.self, forKey: key))!))
            case "float32": self = .value(.float(Float(Double(try c.decode(String.self, forKey: key))!)))
            case "str": self = .value(.string(try c.decode(String.self, forKey: key)))
            case "str_repeat":
                var pair = try c.nestedUnkeyedContainer(forKey: key)
                let unit = try pair.decode(String.self), count = try pair.decode(Int.self)
                self = .value(.string(String(repeating: unit, count: count)))
            case "bin": self = .value(.binary(bytes(hex: try c.decode(String.self, forKey: key))))
            case "array": self = .value(.array(try c.decode([Typed].self, forKey: key).map(\.messagePack)))
            case "array_zeros": self = .value(.array(Array(repeating: .int(0), count: try c.decode(Int.self, forKey: key))))
            case "map":
                let pairs = try c.decode([[Typed]].self, forKey: key)
                self = .value(.map(pairs.map { ($0[0].messagePack, $0[1].messagePack) }))
            default: throw TestFailure("unknown vector type \(key.stringValue)")
            }
        }

        var messagePack: MessagePackValue { if case .value(let v) = self { return v }; return .nil_ }

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
    }

    static let vectors: [Vector] = (try? JSONDecoder().decode([Vector].self, from: TestPaths.vectors("messagepack"))) ?? []

    @Test func vectorsArePresent() {
        #expect(Self.vectors.count > 40)
    }

    @Test func encodesLikePythonMsgpack() {
        for vector in Self.vectors {
            let encoded = vector.value.messagePack.encoded()
            #expect(hex(encoded) == vector.hex, "encoding \(String(describing: vector.value.messagePack).prefix(80))")
        }
    }

    @Test func decodesPythonMsgpack() throws {
        for vector in Self.vectors {
            let decoded = try MessagePackValue(decoding: bytes(hex: vector.hex))
            #expect(decoded == vector.value.messagePack, "decoding \(vector.hex.prefix(40))")
        }
    }

    @Test(arguments: [
        ("", "ends early"), ("92 01", "ends early"), ("c1", "not a valid type"), ("a3 61 62", "ends early"),
        ("01 02", "follow"), ("dd ff ff ff ff", "ends early"), ("a2 c3 28", "not UTF-8"),
    ])
    func rejectsMalformedBytes(hexText: String, expected: String) {
        #expect {
            _ = try MessagePackValue(decoding: bytes(hex: hexText.replacingOccurrences(of: " ", with: "")))
        } throws: { error in
            "\(error)".contains(expected)
        }
    }

    @Test func rejectsDeepNesting() {
        let deep = [UInt8](repeating: 0x91, count: 10_000) + [0x00]
        #expect(throws: MessagePackError.tooDeep(limit: 512)) { try MessagePackValue(decoding: deep) }
    }

    @Test func codableRoundTripKeepsEveryField() throws {
        let registration = WorkerRegistration(
            workerID: WorkerID("w"), httpURL: "http://h:1", servingEndpoint: nil,
            model: ModelCard(
                servedModelName: modelName("m"), architecture: "llama", contextLength: 8192, kvBlockSize: 16,
                dimensions: ModelDimensions(layers: 30, hidden: 576, intermediate: 1536, heads: 9, kvHeads: 3, headDim: 64, vocabulary: 49152),
                lora: LoRACapabilities(enabled: true, maxLoras: 8, maxRank: 64), hasChatTemplate: true
            ),
            adapters: [AdapterSummary(
                name: try AdapterName("org/a"), loraID: LoRAID(rawValue: 5), source: "file:///x",
                digest: ContentDigest(bytes: Array(repeating: 7, count: 32)), rank: 8, alpha: 16, targetModules: ["q_proj"], bytes: 10
            )],
            metrics: LoadMetrics(runningRequests: 1, waitingRequests: 2, kvBlocksUsed: 3, kvBlocksTotal: 4, residentAdapters: 1),
            heartbeatInterval: 0.5
        )
        let bytes = try MessagePackEncoder().encode(registration)
        #expect(try MessagePackDecoder().decode(WorkerRegistration.self, from: bytes) == registration)
        // A nil optional is left out rather than sent as nil.
        #expect(try MessagePackValue(decoding: bytes)["servingEndpoint"] == nil)
    }
}

func bytes(hex: String) -> [UInt8] { Hex.decode(hex)! }

func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }
