import PatchworkAdapters
import PatchworkCore
import PatchworkEngine
import PatchworkFormats

extension AdapterRecord {
    /// The weights in compute form, for the engine.
    func makeResident(layers: Int) throws(AdapterError) -> ResidentAdapter {
        do {
            let weights = try LoRAWeights.load(safetensors: weightsData, layers: layers, rank: validated.rank, scale: Float(validated.scale))
            return ResidentAdapter(name: name, weights: weights, namespace: namespace)
        } catch {
            throw AdapterError(.invalidAdapter, "adapter '\(name)': \(error.message)")
        }
    }
}
