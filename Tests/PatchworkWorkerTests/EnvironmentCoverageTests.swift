import ArgumentParser
import PatchworkRuntime
@testable import PatchworkWorker
import Testing

/// Every `PATCHWORK_*` variable the worker documents reaches its option (set alone, it parses
/// and changes what was parsed), and the help lists every one.
struct EnvironmentCoverageTests {
    static let required: [(option: String, value: String)] = [("router", "tcp://127.0.0.1:1"), ("model", "/models/m.gguf")]
    /// Values options may take (`--quantize` takes a type's name).
    static let samples = ["7", "64", "0.5", "debug", "tcp://127.0.0.1:9", "/tmp/patchwork-env", "file", "q8_0", "f16", "vllm", "http://127.0.0.1:9", "sample"]

    @Test func everyVariableReachesItsOption() {
        #expect(EnvironmentOption.unreachable(ServeCommand.environment, in: ServeCommand.self, required: Self.required, samples: Self.samples) == [])
        #expect(ServeCommand.environment.count == 38)
    }

    @Test func theCheckFindsAVariableWithoutAnOption() {
        let broken = ServeCommand.environment + [.init("heartbeat-intervals", "PATCHWORK_HEARTBEAT_INTERVALS")]
        #expect(EnvironmentOption.unreachable(broken, in: ServeCommand.self, required: Self.required, samples: Self.samples) == ["PATCHWORK_HEARTBEAT_INTERVALS"])
    }

    @Test func theHelpListsEveryVariable() {
        let help = ServeCommand.helpMessage()
        for option in ServeCommand.environment { #expect(help.contains(option.variable), "\(option.variable)") }
    }
}
