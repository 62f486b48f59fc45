import PatchworkCore

/// What the adapter controller does after comparing declarations with the live workers.
struct DeclarationPlan: Sendable {
    enum Action: Sendable, Equatable {
        /// `POST {http}/v1/loras` on a worker.
        case load(worker: WorkerID, http: String, name: AdapterName, source: String, objectName: String)
        /// `DELETE {http}/v1/loras/{name}` on a worker.
        case unload(worker: WorkerID, http: String, name: AdapterName)
    }

    var actions: [Action] = []
    /// By object name.
    var statuses: [String: AdapterDeclaration.Status] = [:]
}
