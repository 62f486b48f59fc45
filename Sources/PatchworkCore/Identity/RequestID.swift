/// The id of one inference request as it travels frontend → router → worker and back: every
/// hop logs it, and chunks, cancels and failures carry it.
///
/// At most 256 bytes of UTF-8 with no whitespace or control characters: it reaches log lines
/// and error messages verbatim. A malformed id fails decoding, so a peer cannot plant one.
public struct RequestID: CheckedIdentity {
    public static let maxBytes = 256
    public let rawValue: String

    /// Validates `rawValue`.
    /// - Throws: ``InvalidRequestID`` saying what is wrong.
    public init(_ rawValue: String) throws(InvalidRequestID) {
        if let problem = Self.problem(in: rawValue) { throw InvalidRequestID(id: rawValue, reason: problem) }
        self.rawValue = rawValue
    }

    private init(unchecked rawValue: String) { self.rawValue = rawValue }

    /// A new id: `prefix` then 32 random hex digits (OpenAI's `chatcmpl-…` shape).
    public static func fresh(prefix: String) -> RequestID {
        var generator = SystemRandomNumberGenerator()
        let digits = (0..<2).map { _ in generator.next() as UInt64 }.map { String($0, radix: 16).leftPadded(to: 16) }.joined()
        return RequestID(unchecked: prefix + digits)
    }

    /// The id of one part of this request (a choice, a retry): `<self>-<suffix>`. The suffix
    /// is the caller's own short ASCII, so the result stays valid unless it grows too long.
    public func part(_ suffix: String) -> RequestID {
        precondition(Self.problem(in: suffix) == nil, "a request id's part must itself be a valid id")
        return RequestID(unchecked: String((rawValue + "-" + suffix).utf8.prefix(Self.maxBytes))!)
    }

    private static func problem(in id: String) -> String? {
        if id.isEmpty { return "it is empty" }
        if id.utf8.count > maxBytes { return "it is \(id.utf8.count) bytes long, more than \(maxBytes)" }
        if id.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || (0x7f..<0xa0).contains($0.value) }) {
            return "it contains whitespace or a control character"
        }
        return nil
    }
}

/// Why a string is not a valid ``RequestID``.
public struct InvalidRequestID: Error, Equatable, CustomStringConvertible {
    public let id: String
    public let reason: String
    public var description: String { "invalid request id: \(reason)" }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
