import Foundation
import Testing

@testable import PatchworkAdapters

struct AdapterSourceTests {
    @Test func parsesS3() throws {
        guard case .s3(let location) = try AdapterSource(uri: "s3://my-bucket/adapters/sql/") else { Issue.record("not s3"); return }
        #expect(location.bucket == "my-bucket" && location.prefix == "adapters/sql")
        #expect(location.listingPrefix == "adapters/sql/")
        #expect(location.description == "s3://my-bucket/adapters/sql")
        guard case .s3(let root) = try AdapterSource(uri: "s3://my-bucket") else { Issue.record("not s3"); return }
        #expect(root.prefix.isEmpty && root.listingPrefix.isEmpty)
    }

    /// Keys are cut below the prefix byte for byte: a combining mark right after the slash
    /// stays in the file name (as characters, "/" and U+0301 are one).
    @Test func keysAreCutBelowThePrefixInBytes() throws {
        guard case .s3(let location) = try AdapterSource(uri: "s3://my-bucket/team a+b=c/v1") else { Issue.record("not s3"); return }
        #expect(location.relativePath(of: "team a+b=c/v1/adapter_config.json") == "adapter_config.json")
        let combining = location.relativePath(of: "team a+b=c/v1/\u{301}notes.md")
        #expect(Array(combining.unicodeScalars) == Array("\u{301}notes.md".unicodeScalars))
    }

    @Test func parsesHub() throws {
        guard case .hf(let main) = try AdapterSource(uri: "hf://org/name") else { Issue.record("not hf"); return }
        #expect(main.repository == "org/name" && main.revision == "main" && !main.isPinned)
        guard case .hf(let pinned) = try AdapterSource(uri: "hf://org/name@0123456789abcdef0123456789abcdef01234567") else { Issue.record("not hf"); return }
        #expect(pinned.isPinned)
        guard case .hf(let pr) = try AdapterSource(uri: "hf://org/name@refs/pr/1") else { Issue.record("not hf"); return }
        #expect(pr.revision == "refs/pr/1" && pr.description == "hf://org/name@refs/pr/1")
        guard case .hf(let nested) = try AdapterSource(uri: "hf://org/name/adapters/sql@v1") else { Issue.record("not hf"); return }
        #expect(nested.repository == "org/name" && nested.subfolder == "adapters/sql" && nested.revision == "v1")
        #expect(nested.path(of: "adapter_config.json") == "adapters/sql/adapter_config.json")
        #expect(nested.description == "hf://org/name/adapters/sql@v1" && main.subfolder.isEmpty)
    }

    @Test(arguments: [
        ("s3://ab/x", "invalid bucket name"),
        ("s3://Upper/x", "invalid bucket name"),
        ("s3://bucket/a/../b", "'..'"),
        ("hf://a//c", "hf://org/name"),
        ("hf://org/name/../x", "hf://org/name"),
        ("hf://org/../x", "hf://org/name"),
        ("hf://org/name@", "invalid revision"),
        ("hf://org/name@a..b", "invalid revision"),
        ("gs://bucket/x", "unsupported scheme 'gs'"),
    ])
    func refusesMalformed(_ uri: String, _ words: String) {
        #expect { try AdapterSource(uri: uri) } throws: { error in
            guard let error = error as? AdapterError else { return false }
            return error.kind == .badRequest && error.message.contains(words)
        }
    }

    @Test func policyRefusesSchemesAndFoldersOutside() throws {
        let allowed = try TemporaryFolder()
        let outside = try TemporaryFolder()
        for file in ["adapter_config.json", "adapter_model.safetensors"] {
            try Data("{}".utf8).write(to: allowed.url.appendingPathComponent(file))
            try Data("{}".utf8).write(to: outside.url.appendingPathComponent(file))
        }
        let policy = SourcePolicy(allowedSchemes: ["file"], allowedLocalDirectories: [allowed.url.path], maxAdapterBytes: 1000)
        #expect(throws: AdapterError.self) { try policy.check(try AdapterSource(uri: "s3://bucket/x")) }
        let inside = try AdapterSource(uri: "file://" + allowed.url.path)
        try policy.checkLocal(directory: allowed.url.path, source: inside)
        #expect { try policy.checkLocal(directory: outside.url.path, source: inside) } throws: { ($0 as? AdapterError)?.kind == .forbidden }

        // A symlink inside the allowed folder pointing outside is refused by where it leads.
        let linked = allowed.url.appendingPathComponent("linked")
        try FileManager.default.createDirectory(at: linked, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: linked.appendingPathComponent("adapter_config.json"), withDestinationURL: outside.url.appendingPathComponent("adapter_config.json"))
        #expect { try policy.checkLocal(directory: linked.path, source: inside) } throws: {
            ($0 as? AdapterError)?.kind == .forbidden && ($0 as? AdapterError)?.message.contains("adapter_config.json resolves to") == true
        }

        let small = SourcePolicy(maxAdapterBytes: 3)
        #expect { try small.checkLocal(directory: allowed.url.path, source: inside) } throws: { ($0 as? AdapterError)?.kind == .tooLarge }
    }

    /// A FIFO or a device in place of an adapter file is refused before anything reads it (a
    /// FIFO would block the load forever, /dev/zero never end).
    @Test func devicesAndFIFOsAreNotAdapterFiles() throws {
        let folder = try TemporaryFolder()
        let config = folder.url.appendingPathComponent("adapter_config.json"), weights = folder.url.appendingPathComponent("adapter_model.safetensors")
        try Data("{}".utf8).write(to: weights)
        #expect(mkfifo(config.path, 0o600) == 0)
        let source = try AdapterSource(uri: "file://" + folder.url.path)
        #expect { try SourcePolicy().checkLocal(directory: folder.url.path, source: source) } throws: {
            ($0 as? AdapterError)?.kind == .invalidAdapter && ($0 as? AdapterError)?.message.contains("adapter_config.json is a FIFO") == true
        }
        try FileManager.default.removeItem(at: config)
        try Data("{}".utf8).write(to: config)
        try FileManager.default.removeItem(at: weights)
        try FileManager.default.createSymbolicLink(at: weights, withDestinationURL: URL(fileURLWithPath: "/dev/zero"))
        #expect { try SourcePolicy().checkLocal(directory: folder.url.path, source: source) } throws: {
            ($0 as? AdapterError)?.message.contains("adapter_model.safetensors is a device") == true
        }
        try FileManager.default.removeItem(at: weights)
        try FileManager.default.createDirectory(at: weights, withIntermediateDirectories: false)
        #expect { try SourcePolicy().checkLocal(directory: folder.url.path, source: source) } throws: {
            ($0 as? AdapterError)?.message.contains("adapter_model.safetensors is a folder") == true
        }
    }

    @Test(arguments: ["../x", "/etc/passwd", "a/../../b", "a//b", "./a", "a\\..\\b", ""])
    func relativePathsThatEscapeAreRefused(_ name: String) {
        #expect { try RelativePath.checked(name, from: "s3://b/p") } throws: { ($0 as? AdapterError)?.kind == .invalidAdapter }
    }

    @Test func plainRelativePathsPass() throws {
        #expect(try RelativePath.checked("sub/dir/adapter_model.safetensors", from: "s3://b/p") == "sub/dir/adapter_model.safetensors")
    }
}

/// A temporary folder removed when the value goes away.
final class TemporaryFolder {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("patchwork-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
}
