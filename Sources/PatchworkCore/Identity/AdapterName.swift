/// The name a LoRA adapter is served under (`lora_name`, and the `model` of a request).
///
/// Names may contain `/` (`org/adapter`), but never a path segment `.` or `..`, an empty
/// segment, a backslash or a control character, and are at most 256 bytes of UTF-8: a name
/// reaches URLs, log lines and (from the disk cache on) file names.
public struct AdapterName: CheckedIdentity, Comparable {
    public static let maxBytes = 256
    public let rawValue: String

    /// Validates `rawValue`.
    /// - Throws: ``InvalidAdapterName`` saying what is wrong.
    public init(_ rawValue: String) throws(InvalidAdapterName) {
        if let problem = ServedName.problem(in: rawValue) { throw InvalidAdapterName(name: rawValue, reason: problem) }
        self.rawValue = rawValue
    }

    /// The adapter's numeric id (`lora_id`), a pure function of the name. See ``LoRAID``.
    public var loraID: LoRAID { LoRAID(name: self) }
}

/// Why a string is not a valid ``AdapterName``.
public struct InvalidAdapterName: Error, Equatable, CustomStringConvertible {
    public let name: String
    public let reason: String
    public var description: String { "invalid adapter name: \(reason)" }
}

/// The rules adapter and model names share: both reach URLs, log lines, metric labels and
/// (for adapters) file names.
enum ServedName {
    static func problem(in name: String) -> String? {
        if name.isEmpty { return "it is empty" }
        if name.utf8.count > AdapterName.maxBytes { return "it is \(name.utf8.count) bytes long, more than \(AdapterName.maxBytes)" }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f || (0x80..<0xa0).contains($0.value) }) {
            return "it contains a control character"
        }
        if name.contains("\\") { return "it contains a backslash" }
        let segments = name.split(separator: "/", omittingEmptySubsequences: false)
        if segments.contains(where: { $0 == ".." || $0 == "." }) { return "it contains a '.' or '..' path segment" }
        if segments.contains(where: \.isEmpty) { return "it has an empty path segment (leading, trailing or double '/')" }
        return nil
    }
}
