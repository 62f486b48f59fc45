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
}
