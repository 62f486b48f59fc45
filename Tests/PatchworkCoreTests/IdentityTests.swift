import Foundation
@testable import PatchworkCore
import PatchworkTesting
import Testing

struct IdentityTests {
    @Test(arguments: ["a", "org/adapter", "sql-lora_v2", "日本語", String(repeating: "x", count: 256), "a.b/c..d"])
    func acceptsNames(name: String) throws {
        #expect(try AdapterName(name).rawValue == name)
    }

    @Test(arguments: [
        ("", "empty"), (String(repeating: "x", count: 257), "257 bytes"), ("..", "'..'"), ("org/../x", "'..'"),
        ("./x", "'.'"), ("a\nb", "control"), ("a\u{7f}", "control"), ("a\tb", "control"), ("/abs", "empty path segment"),
        ("a//b", "empty path segment"), ("a/", "empty path segment"), ("a\\b", "backslash"),
    ])
    func refusesNames(name: String, reason: String) {
        #expect { try AdapterName(name) } throws: { ($0 as? InvalidAdapterName)?.reason.contains(reason) == true }
    }

    @Test func modelNamesFollowTheSameRules() throws {
        #expect(try ModelName("HuggingFaceTB/SmolLM2-135M-Instruct").rawValue == "HuggingFaceTB/SmolLM2-135M-Instruct")
        for bad in ["", "../m", "m\n", "a//b", "a\\b"] {
            #expect(throws: InvalidModelName.self) { try ModelName(bad) }
        }
    }

    @Test(arguments: [("", "empty"), ("a b", "whitespace"), ("a\nb", "control"), ("a\u{85}", "whitespace"), (String(repeating: "x", count: 257), "257 bytes")])
    func refusesRequestIDs(id: String, reason: String) {
        #expect { try RequestID(id) } throws: { ($0 as? InvalidRequestID)?.reason.contains(reason) == true }
    }

    @Test func freshRequestIDsAreDistinctAndTheirPartsStayValid() throws {
        let ids = (0..<100).map { _ in RequestID.fresh(prefix: "chatcmpl-") }
        #expect(Set(ids).count == 100)
        #expect(ids.allSatisfy { $0.rawValue.hasPrefix("chatcmpl-") && $0.rawValue.count == "chatcmpl-".count + 32 })
        let part = ids[0].part("1-retry2")
        #expect(part.rawValue == ids[0].rawValue + "-1-retry2")
        #expect(try RequestID(part.rawValue) == part)
    }

    /// A peer cannot plant a malformed id or model name: the message fails decoding.
    @Test func wireMessagesWithAMalformedIDOrModelFailDecoding() throws {
        let good = RouteRequest(requestID: requestID("r1"), model: modelName("m"), adapter: nil, promptIDs: [1], excluding: [])
        #expect(try ControlMessage(decoding: ControlMessage.routeRequest(good).encoded()) == .routeRequest(good))
        let bad: [(String, String)] = [("r 1", "m"), ("r1", "../m")]
        for (id, model) in bad {
            let body = MessagePackValue.map([
                (.string("requestID"), .string(id)), (.string("model"), .string(model)), (.string("promptIDs"), .array([.int(1)])),
                (.string("excluding"), .array([])),
            ])
            #expect(throws: WireMessageError.self) { try ControlMessage(decoding: Envelope.encode(type: "route_request", body: body)) }
        }
    }

    /// lora_id by the documented formula, computed independently in Python.
    @Test func loraIDsMatchTheDocumentedHash() throws {
        struct Vector: Decodable { var name: String; var lora_id: Int }
        let vectors = try JSONDecoder().decode([Vector].self, from: TestPaths.vectors("identities"))
        #expect(vectors.count >= 5)
        for vector in vectors {
            let id = try AdapterName(vector.name).loraID.rawValue
            #expect(id == vector.lora_id)
            #expect(id > 0 && id < 1 << 31)
        }
    }

    @Test(arguments: [
        ("tcp://127.0.0.1:7000", "127.0.0.1", 7000, "tcp://127.0.0.1:7000"),
        ("tcp://0.0.0.0:0", "0.0.0.0", 0, "tcp://0.0.0.0:*"),
        ("tcp://[::1]:80", "[::1]", 80, "tcp://[::1]:80"),
    ])
    func parsesEndpoints(text: String, host: String, port: Int, bind: String) throws {
        let endpoint = try Endpoint(parsing: text)
        #expect(endpoint.host == host && endpoint.port == port && endpoint.bindString == bind)
    }

    @Test(arguments: ["127.0.0.1:7000", "tcp://host", "tcp://:7000", "tcp://h:70000", "ipc://x"])
    func refusesEndpoints(text: String) {
        #expect(throws: ConfigurationError.self) { try Endpoint(parsing: text) }
    }

    @Test func digestsAreLowercaseHex() {
        #expect(ContentDigest(hex: String(repeating: "ab", count: 32)) != nil)
        #expect(ContentDigest(hex: String(repeating: "AB", count: 32)) == nil)
        #expect(ContentDigest(hex: "abc") == nil)
        #expect(ContentDigest(bytes: Array(0..<32)).hex.hasPrefix("000102"))
        #expect(ContentDigest(bytes: Array(200..<232)).bytes == Array(200..<232))
    }
}

struct HexTests {
    @Test func hexRoundTripsAndRefusesWhatIsNotHex() {
        #expect(Hex.encode([0, 255, 16, 171]) == "00ff10ab")
        #expect(Hex.decode("00ff10ab") == [0, 255, 16, 171] && Hex.decode("00FF10AB") == [0, 255, 16, 171])
        #expect(Hex.decode("0") == nil && Hex.decode("0g") == nil && Hex.decode("") == [])
        // SHA-256 of "abc", from FIPS 180-2.
        #expect(Hex.encode(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
