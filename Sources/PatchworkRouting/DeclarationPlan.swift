import PatchworkCore

/// What the adapter controller does after comparing declarations with the live workers.
public struct DeclarationPlan: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        /// `POST {http}/v1/loras` on a worker.
        case load(worker: WorkerID, http: String, name: AdapterName, source: String, objectName: String)
        /// `DELETE {http}/v1/loras/{name}` on a worker.
        case unload(worker: WorkerID, http: String, name: AdapterName)
    }

    /// A load of an adapter on a worker that the controller started and that has not finished.
    public struct PendingLoad: Hashable, Sendable {
        public var worker: WorkerID
        public var adapter: AdapterName

        public init(worker: WorkerID, adapter: AdapterName) {
            self.worker = worker
            self.adapter = adapter
        }
    }

    public var actions: [Action] = []
    /// By object name.
    public var statuses: [String: AdapterDeclaration.Status] = [:]

    public init(actions: [Action] = [], statuses: [String: AdapterDeclaration.Status] = [:]) {
        self.actions = actions
        self.statuses = statuses
    }
}
