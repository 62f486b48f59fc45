import ArgumentParser
@testable import PatchworkWorker
import Testing

/// Options the worker refuses before it loads anything, with the option named.
struct ServeOptionsTests {
    static let required = ["--router", "tcp://127.0.0.1:1", "--model", "/models/m.gguf"]

    @Test func aValidServedModelNameParses() throws {
        let command = try ServeCommand.parse(Self.required + ["--served-model-name", "org/base-1"])
        #expect(command.servedModelName == "org/base-1")
    }

    @Test(arguments: ["../base", "a b\n", "org//base", ""])
    func aMalformedServedModelNameIsRefused(name: String) {
        #expect {
            _ = try ServeCommand.parse(Self.required + ["--served-model-name", name])
        } throws: { error in
            ServeCommand.message(for: error).contains("--served-model-name")
        }
    }

    @Test func aVLLMEngineTakesItsURLAndEndpoints() throws {
        let command = try ServeCommand.parse(Self.required + [
            "--engine", "vllm", "--engine-url", "http://vllm:8000/", "--engine-kv-events", "tcp://vllm:5557", "--engine-kv-replay", "ipc:///run/vllm/replay",
        ])
        #expect(try command.engineKind() == .vllm(VLLMSettings(url: "http://vllm:8000/", kvEvents: "tcp://vllm:5557", kvReplay: "ipc:///run/vllm/replay", startupTimeout: 600)))
        #expect(try ServeCommand.parse(Self.required).engineKind() == .patchwork)
    }

    /// Malformed engine options are refused when parsed, named.
    @Test(arguments: [
        (["--engine", "sglang"], "--engine"), (["--engine-url", "vllm:8000"], "--engine-url"), (["--engine-url", "http://vllm:8000/v1"], "--engine-url"),
        (["--engine-kv-events", "vllm:5557"], "--engine-kv-events"), (["--engine-startup-timeout", "0"], "--engine-startup-timeout"),
    ])
    func aMalformedEngineOptionIsRefused(arguments: [String], named: String) {
        #expect { _ = try ServeCommand.parse(Self.required + arguments) } throws: { ServeCommand.message(for: $0).contains(named) }
    }

    /// Options that do not go together are refused at start, before anything loads.
    @Test(arguments: [
        ["--engine", "vllm"], ["--engine-url", "http://vllm:8000"], ["--engine", "vllm", "--engine-url", "http://v:1", "--engine-kv-replay", "tcp://v:2"],
        ["--engine", "vllm", "--engine-url", "http://v:1", "--quantize", "q8_0"],
    ])
    func optionsThatDoNotGoTogetherAreRefused(arguments: [String]) throws {
        let command = try ServeCommand.parse(Self.required + arguments)
        #expect(throws: ValidationError.self) { try command.engineKind() }
    }
}
