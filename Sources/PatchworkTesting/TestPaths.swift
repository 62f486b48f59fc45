import Foundation

/// Where tests find the built executables, the bundled model and the committed fixtures.
///
/// `make test` sets `PATCHWORK_TEST_BIN_DIR` and `PATCHWORK_TEST_MODEL`; fixtures are found from
/// this file's location in the source tree.
public enum TestPaths {
    /// `Tests/Fixtures` in the source tree.
    public static let fixtures: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Tests/Fixtures")

    public static func adapter(_ name: String) -> URL { fixtures.appendingPathComponent("adapters/\(name)") }

    /// A reference computed by an independent implementation (`Tests/Fixtures/references/NAME.json`,
    /// written by the scripts beside it).
    public static func reference<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: fixtures.appendingPathComponent("references/\(name).json")))
    }

    public static func vectors(_ name: String) throws -> Data {
        try Data(contentsOf: fixtures.appendingPathComponent("vectors/\(name).json"))
    }

    /// Folder of `patchwork-router`, `patchwork-worker` and `patchwork-frontend`.
    public static var binaries: URL {
        if let dir = ProcessInfo.processInfo.environment["PATCHWORK_TEST_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        // `swift test` without make: the debug build folder beside the sources.
        return fixtures.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(".build/debug")
    }

    /// The bundled SmolLM2-135M-Instruct GGUF (`make model` downloads it).
    public static var model: URL {
        if let path = ProcessInfo.processInfo.environment["PATCHWORK_TEST_MODEL"] { return URL(fileURLWithPath: path) }
        return fixtures.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf")
    }

    /// The bundled model's quantized variants and llama.cpp's greedy answers on each
    /// (`make llama-references`; `make test` sets `PATCHWORK_TEST_LLAMA_REFERENCES`).
    public static var llamaReferences: URL? {
        ProcessInfo.processInfo.environment["PATCHWORK_TEST_LLAMA_REFERENCES"].map { URL(fileURLWithPath: $0) }
    }

    /// The Python of the test venv (`make venv`), for the official `openai` client and the
    /// S3 and Hub servers the tests start.
    public static var python: String {
        ProcessInfo.processInfo.environment["PATCHWORK_TEST_PYTHON"]
            ?? fixtures.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(".venv/bin/python").path
    }

    /// A fresh temporary directory.
    public static func temporaryDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("patchwork-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
