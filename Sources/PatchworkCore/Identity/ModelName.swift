/// The name a base model is served under (`--served-model-name`; the `model` of a request that
/// names no adapter, and the `parent` of its adapters in `/v1/models`).
///
/// The same rules as an ``AdapterName`` (`org/model` allowed; no `.`/`..` or empty segment, no
/// backslash or control character, at most 256 bytes): it reaches URLs, logs and metric labels.
public struct ModelName: CheckedIdentity, Comparable {
    public let rawValue: String

    /// Validates `rawValue`.
    /// - Throws: ``InvalidModelName`` saying what is wrong.
    public init(_ rawValue: String) throws(InvalidModelName) {
        if let problem = ServedName.problem(in: rawValue) { throw InvalidModelName(name: rawValue, reason: problem) }
        self.rawValue = rawValue
    }
}

/// Why a string is not a valid ``ModelName``.
public struct InvalidModelName: Error, Equatable, CustomStringConvertible {
    public let name: String
    public let reason: String
    public var description: String { "invalid model name: \(reason)" }
}
