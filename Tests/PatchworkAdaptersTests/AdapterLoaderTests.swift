import Foundation
import PatchworkAdapters
import PatchworkCore
import PatchworkTesting
import Testing

struct AdapterLoaderTests {
    let loader = AdapterLoader(validator: AdapterValidator(dimensions: AdapterValidatorTests.smol, maxRank: 64))

    /// The committed fixtures load, and their digests equal Python's hashlib over the
    /// documented input (Tests/Fixtures/make_vectors.py).
    @Test func fixturesLoadWithTheDocumentedDigest() throws {
        struct Vector: Decodable { var adapter: String; var sha256: String }
        let vectors = try JSONDecoder().decode([Vector].self, from: TestPaths.vectors("adapter_digests"))
        #expect(vectors.count == 4)
        for vector in vectors {
            let source = try AdapterSource(uri: "file://" + TestPaths.adapter(vector.adapter).path)
            let record = try loader.load(name: try AdapterName(vector.adapter), source: source, now: 0)
            #expect(record.digest.hex == vector.sha256, "\(vector.adapter)")
        }
    }

    @Test func readsRankModulesAndScaleOfFixtures() throws {
        let record = try loader.load(
            name: try AdapterName("r"), source: AdapterSource(uri: "file://" + TestPaths.adapter("smollm2-qkvo-rslora-r16").path), now: 0
        )
        #expect(record.validated.rank == 16)
        #expect(record.validated.targetModules == ["k_proj", "o_proj", "q_proj", "v_proj"])
        #expect(record.validated.layers == [0, 29])
        #expect(record.validated.scale == 8)  // 32 / sqrt(16)
    }

    @Test func changingOneByteChangesTheDigest() throws {
        let path = try AdapterFiles.write(config: AdapterFiles.config(), tensors: AdapterFiles.pair(0, "q_proj", r: 8) + AdapterFiles.pair(0, "v_proj", r: 8))
        let source = try AdapterSource(uri: "file://" + path)
        let before = try loader.load(name: try AdapterName("a"), source: source, now: 0).digest
        let weights = URL(fileURLWithPath: path + "/adapter_model.safetensors")
        var data = try Data(contentsOf: weights)
        data[data.count - 1] = 1
        try data.write(to: weights)
        #expect(try loader.load(name: try AdapterName("a"), source: source, now: 0).digest != before)
    }

    @Test func missingThingsAre404AndPickleIs422() throws {
        let directory = try TestPaths.temporaryDirectory("missing")
        let source = try AdapterSource(uri: "file://" + directory.path)
        #expect { try loader.load(name: try AdapterName("a"), source: AdapterSource(uri: "file:///no/such/dir"), now: 0) } throws: {
            ($0 as? AdapterError)?.kind == .notFound
        }
        #expect { try loader.load(name: try AdapterName("a"), source: source, now: 0) } throws: {
            ($0 as? AdapterError)?.message.contains("no adapter_config.json") == true
        }
        try AdapterFiles.config().write(to: directory.appendingPathComponent("adapter_config.json"))
        try Data([0x80]).write(to: directory.appendingPathComponent("adapter_model.bin"))
        #expect { try loader.load(name: try AdapterName("a"), source: source, now: 0) } throws: {
            ($0 as? AdapterError)?.kind == .invalidAdapter
        }
    }

    /// A folder with several problems reports all of them in one 422, so they are fixed in one round.
    @Test func everyProblemOfAFolderIsReportedAtOnce() throws {
        let directory = try TestPaths.temporaryDirectory("broken")
        try Data("{\"r\": 8, \"lora_alpha\": ".utf8).write(to: directory.appendingPathComponent("adapter_config.json"))
        let source = try AdapterSource(uri: "file://" + directory.path)
        #expect { try loader.load(name: try AdapterName("a"), source: source, now: 0) } throws: { error in
            guard let error = error as? AdapterError else { return false }
            return error.kind == .invalidAdapter && error.message.contains("adapter_config.json is not valid JSON")
                && error.message.contains("no adapter_model.safetensors")
        }
        // A weight file that is not safetensors, beside a config of the wrong type.
        try Data("{\"r\": \"eight\"}".utf8).write(to: directory.appendingPathComponent("adapter_config.json"))
        try Data([1, 2, 3]).write(to: directory.appendingPathComponent("adapter_model.safetensors"))
        #expect { try loader.load(name: try AdapterName("a"), source: source, now: 0) } throws: { error in
            guard let error = error as? AdapterError else { return false }
            return error.kind == .invalidAdapter && error.message.contains("field 'r' has the wrong type") && error.message.contains("safetensors")
        }
    }

    @Test(arguments: [
        ("file:///a/b", "/a/b"), ("file://localhost/a/b", "/a/b"), ("file:///a/./c/../b", "/a/b"), ("file:///a%20b", "/a b"),
    ])
    func parsesFileURIs(uri: String, path: String) throws {
        #expect(try AdapterSource(uri: uri) == .file(directory: path))
    }

    @Test(arguments: ["relative/path", "file://relative", "ftp://x/y", "s4://bucket"])
    func refusesOtherURIs(uri: String) {
        #expect { try AdapterSource(uri: uri) } throws: { ($0 as? AdapterError)?.kind == .badRequest }
    }
}
