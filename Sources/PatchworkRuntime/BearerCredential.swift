import Foundation
import PatchworkCore

/// `Authorization: Bearer SECRET`, as the processes check it: the secret's SHA-256, and a
/// comparison whose time does not depend on where two digests differ. API keys (frontend) and
/// admin tokens (workers, routers) are both held and checked this way.
public enum BearerCredential {
    /// The SHA-256 of the secret a `Bearer` header presents; nil without one.
    public static func digest(authorization header: String?) -> [UInt8]? {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        return SHA256.hash(Array(header.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8))
    }

    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
