import PatchworkCore

/// A `PatchworkAdapter` object (deploy/kubernetes/crd-patchworkadapter.yaml): an adapter the
/// cluster should serve, declared instead of loaded by hand.
public struct AdapterDeclaration: Sendable, Equatable {
    /// The object's `metadata.name`.
    public var objectName: String
    /// The name clients use: `spec.loraName`, else the object's name.
    public var loraName: AdapterName
    /// The served name of the base model (`spec.baseModel`).
    public var baseModel: ModelName
    /// `spec.source.uri`.
    public var source: String
    /// How many workers should hold it (`spec.replicas`, default 1).
    public var replicas: Int
    public var generation: Int

    public init(objectName: String, loraName: AdapterName, baseModel: ModelName, source: String, replicas: Int, generation: Int) {
        self.objectName = objectName
        self.loraName = loraName
        self.baseModel = baseModel
        self.source = source
        self.replicas = replicas
        self.generation = generation
    }

    /// What the controller reports in the object's `status`.
    public struct Status: Sendable, Equatable, Encodable {
        /// `Pending` (fewer workers than `replicas` hold it), `Ready` or `Failed`.
        public var phase: String
        public var loadedOn: [String]
        public var message: String
        public var observedGeneration: Int

        public init(phase: String, loadedOn: [String], message: String, observedGeneration: Int) {
            self.phase = phase
            self.loadedOn = loadedOn
            self.message = message
            self.observedGeneration = observedGeneration
        }
    }
}
