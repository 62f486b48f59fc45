import PatchworkHTTP

extension AdapterError {
    /// A download that failed before the server answered, in the user's terms: `what` names the
    /// URI or object, `endpoint` the server.
    init(transfer error: TransferError, what: String, endpoint: String) {
        switch error.kind {
        case .tooLarge: self.init(.tooLarge, "\(what) is larger than --max-adapter-bytes allows")
        case .localFile: self.init(.internalFailure, "\(what): \(error.message)")
        case .refused: self.init(.forbidden, "\(what): \(error.message)")
        case .aborted: self.init(.upstreamFailure, "\(what): download cancelled")
        case .timeout: self.init(.upstreamFailure, "\(what): timed out talking to \(endpoint) (\(error.message))")
        case .transport: self.init(.upstreamFailure, "\(what): cannot reach \(endpoint): \(error.message)")
        }
    }
}
