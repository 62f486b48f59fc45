import ArgumentParser
import PatchworkRuntime
import Testing

/// The admin token: read from its file as operators write it, checked in full, and the system
/// server's host safe by default.
struct AdminTokenTests {
    @Test func theTokenIsTheFileWithoutSurroundingWhitespace() throws {
        let token = try AdminToken(text: "  s3cret-token\n")
        #expect(token.verdict(authorization: "Bearer s3cret-token") == .allowed)
        #expect(token.verdict(authorization: "bearer s3cret-token ") == .allowed)
        #expect(token.authorization == "Bearer s3cret-token")
    }

    @Test func missingAndWrongCredentialsAreTold() throws {
        let token = try AdminToken(text: "s3cret-token")
        for header in [nil, "", "Bearer", "Bearer ", "Basic s3cret-token", "s3cret-token"] {
            #expect(token.verdict(authorization: header) == .missing, "\(header ?? "nil")")
        }
        for header in ["Bearer s3cret-toke", "Bearer s3cret-token2", "Bearer S3CRET-TOKEN", "Bearer x"] {
            #expect(token.verdict(authorization: header) == .wrong, "\(header)")
        }
    }

    @Test func emptyOrSpacedTokensAreRefused() {
        #expect(throws: AdminToken.LoadError.self) { try AdminToken(text: " \n\t") }
        #expect(throws: AdminToken.LoadError.self) { try AdminToken(text: "two words") }
        #expect(throws: AdminToken.LoadError.self) { try AdminToken(file: "/nonexistent/admin-token") }
    }

    @Test func withoutATokenTheSystemServerListensOnLoopback() throws {
        #expect(try ManagementOptions.parse([]).resolvedSystemHost == "127.0.0.1")
        #expect(try ManagementOptions.parse(["--system-host", "0.0.0.0"]).resolvedSystemHost == "0.0.0.0")
    }
}
