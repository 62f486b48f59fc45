import ArgumentParser
import PatchworkFrontend
import PatchworkRuntime
import Testing

/// Every `PATCHWORK_*` variable the frontend documents reaches its option, and the help lists it.
struct FrontendEnvironmentTests {
    @Test func everyVariableReachesItsOptionAndIsInTheHelp() {
        #expect(EnvironmentOption.unreachable(FrontendCommand.environment, in: FrontendCommand.self, required: [("router", "tcp://127.0.0.1:1")]) == [])
        let help = FrontendCommand.helpMessage()
        for option in FrontendCommand.environment { #expect(help.contains(option.variable), "\(option.variable)") }
        #expect(FrontendCommand.environment.count == 9)
    }
}
