import ArgumentParser
@testable import PatchworkRouter
import PatchworkRuntime
import Testing

/// Every `PATCHWORK_*` variable the router documents reaches its option, and the help lists it.
struct RouterEnvironmentTests {
    /// `--kubernetes` outside a pod is refused without these, so they are always given.
    static let required = [("kubernetes-api", "http://127.0.0.1:1"), ("kubernetes-namespace", "default")]
    /// Values each option may take (the routing policy is a word of its own).
    static let samples = ["7", "0.5", "debug", "tcp://127.0.0.1:9", "/tmp/patchwork-env", "random", "sample"]

    @Test func everyVariableReachesItsOptionAndIsInTheHelp() {
        #expect(EnvironmentOption.unreachable(RouterCommand.environment, in: RouterCommand.self, required: Self.required, samples: Self.samples) == [])
        let help = RouterCommand.helpMessage()
        for option in RouterCommand.environment { #expect(help.contains(option.variable), "\(option.variable)") }
        #expect(RouterCommand.environment.count == 24)
    }

    @Test func aMisspelledOptionNameIsCaught() {
        let broken = RouterCommand.environment + [.init("routing-temprature", "PATCHWORK_ROUTING_TEMPRATURE")]
        #expect(EnvironmentOption.unreachable(broken, in: RouterCommand.self, required: Self.required, samples: Self.samples) == ["PATCHWORK_ROUTING_TEMPRATURE"])
    }
}
