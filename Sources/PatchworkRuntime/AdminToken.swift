import Foundation
import PatchworkCore

/// The token a process's management routes ask for (`--admin-token-file`): `/v1/loras` on
/// workers, `/cluster` on routers, everything but `/health` and `/metrics`. Checked against its
/// SHA-256 in constant time; never logged, never in an error.
public struct AdminToken: Sendable {
    private let digest: [UInt8]
    /// `Authorization: Bearer …`, for a process that calls another's management routes (the
    /// router's adapter controller calling workers).
    public let authorization: String

    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The token in `text`, surrounding whitespace ignored.
    public init(text: String) throws(LoadError) {
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw LoadError(description: "the token file is empty") }
        guard !token.contains(where: \.isWhitespace) else { throw LoadError(description: "the token contains whitespace") }
        digest = SHA256.hash(Array(token.utf8))
        authorization = "Bearer " + token
    }

    public init(file: String) throws(LoadError) {
        guard let data = FileManager.default.contents(atPath: file) else { throw LoadError(description: "cannot read \(file)") }
        try self.init(text: String(decoding: data, as: UTF8.self))
    }

    public enum Verdict: Sendable, Equatable {
        case allowed
        /// No `Bearer` credentials: 401.
        case missing
        /// Credentials, but not this token: 403.
        case wrong
    }

    public func verdict(authorization header: String?) -> Verdict {
        guard let presented = BearerCredential.digest(authorization: header) else { return .missing }
        return BearerCredential.constantTimeEqual(presented, digest) ? .allowed : .wrong
    }
}
