/// A file name from a remote listing, checked to stay inside the folder it is written to.
enum RelativePath {
    /// Returns `name` when it is a plain relative path; refuses empty, absolute, `.` and `..`
    /// segments, backslashes and NUL bytes (an object key or Hub file name that would escape).
    static func checked(_ name: String, from source: String) throws(AdapterError) -> String {
        let segments = name.split(separator: "/", omittingEmptySubsequences: false)
        let bad = name.isEmpty || name.hasPrefix("/") || name.contains("\\") || name.contains("\0")
            || segments.contains { $0.isEmpty || $0 == "." || $0 == ".." }
        guard !bad else {
            throw AdapterError(.invalidAdapter, "\(source) holds a file named '\(name.prefix(200))', which would escape the adapter folder; refused")
        }
        return name
    }
}
