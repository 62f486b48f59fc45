import PatchworkCore

/// An adapter name a test writes out; a malformed one is a bug in the test.
/// (Not a string-literal conformance: `AdapterName("../x")` must keep validating.)
public func adapterName(_ text: String) -> AdapterName {
    do { return try AdapterName(text) } catch { preconditionFailure("\(error)") }
}

/// A request id a test writes out; a malformed one is a bug in the test.
public func requestID(_ text: String) -> RequestID {
    do { return try RequestID(text) } catch { preconditionFailure("\(error)") }
}

/// A model name a test writes out; a malformed one is a bug in the test.
public func modelName(_ text: String) -> ModelName {
    do { return try ModelName(text) } catch { preconditionFailure("\(error)") }
}
