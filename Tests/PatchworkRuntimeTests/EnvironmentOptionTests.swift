import PatchworkRuntime
import Testing

struct EnvironmentOptionTests {
    let options: [EnvironmentOption] = [
        .init("router", "PATCHWORK_ROUTER", .list), .init("model", "PATCHWORK_MODEL"), .init("enable-lora", "PATCHWORK_ENABLE_LORA", .flag),
    ]

    @Test func fillsWhatTheCommandLineLeavesOut() {
        let result = EnvironmentOption.apply(options, to: ["--model", "cli.gguf"], environment: [
            "PATCHWORK_MODEL": "env.gguf", "PATCHWORK_ROUTER": "tcp://a:1, tcp://b:2", "PATCHWORK_ENABLE_LORA": "true",
        ])
        #expect(result == ["--model", "cli.gguf", "--router", "tcp://a:1", "--router", "tcp://b:2", "--enable-lora"])
    }

    @Test func commandLineWinsInEitherSpelling() {
        #expect(EnvironmentOption.apply(options, to: ["--model=x"], environment: ["PATCHWORK_MODEL": "y"]) == ["--model=x"])
        #expect(EnvironmentOption.apply(options, to: ["--router", "tcp://c:3"], environment: ["PATCHWORK_ROUTER": "tcp://a:1"]) == ["--router", "tcp://c:3"])
    }

    @Test(arguments: ["0", "false", "no", ""])
    func falseFlagsStayOff(value: String) {
        #expect(EnvironmentOption.apply(options, to: [], environment: ["PATCHWORK_ENABLE_LORA": value]) == [])
    }
}
