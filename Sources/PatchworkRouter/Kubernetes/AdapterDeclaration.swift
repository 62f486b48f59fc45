import PatchworkCore

/// A `PatchworkAdapter` object (deploy/kubernetes/crd-patchworkadapter.yaml): an adapter the
/// cluster should serve, declared instead of loaded by hand.
struct AdapterDeclaration: Sendable, Equatable {
    /// The object's `metadata.name`.
    var objectName: String
    /// The name clients use: `spec.loraName`, else the object's name.
    var loraName: AdapterName
    /// The served name of the base model (`spec.baseModel`).
    var baseModel: String
    /// `spec.source.uri`.
    var source: String
    /// How many workers should hold it (`spec.replicas`, default 1).
    var replicas: Int
    var generation: Int

    /// What the controller reports in the object's `status`.
    struct Status: Sendable, Equatable, Encodable {
        /// `Pending` (fewer workers than `replicas` hold it), `Ready` or `Failed`.
        var phase: String
        var loadedOn: [String]
        var message: String
        var observedGeneration: Int
    }
}
