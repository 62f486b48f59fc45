import PatchworkCore

/// An adapter name a test writes out; a malformed one is a bug in the test.
/// (Not a string-literal conformance: `AdapterName("../x")` must keep validating.)
public func adapterName(_ text: String) -> AdapterName {
    do { return try AdapterName(text) } catch { preconditionFailure("\(error)") }
}
