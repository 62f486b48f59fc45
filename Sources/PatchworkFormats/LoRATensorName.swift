/// A PEFT tensor name: `base_model.model.model.layers.{i}.{self_attn|mlp}.{module}.lora_{A|B}[.{adapter}].weight`.
public struct LoRATensorName: Equatable, Sendable {
    public var layer: Int
    public var module: String
    /// `lora_A` (true) or `lora_B`.
    public var isA: Bool

    public init?(_ name: String) {
        let parts = name.split(separator: ".").map(String.init)
        guard parts.last == "weight",
              let loraIndex = parts.firstIndex(where: { $0 == "lora_A" || $0 == "lora_B" }), loraIndex >= 1,
              parts.count - loraIndex <= 3,
              let layersIndex = parts.firstIndex(of: "layers"), layersIndex + 1 < loraIndex,
              let layer = Int(parts[layersIndex + 1])
        else { return nil }
        self.layer = layer
        module = parts[loraIndex - 1]
        isA = parts[loraIndex] == "lora_A"
    }
}
