import PatchworkCore
import PatchworkTokenizer

/// Tokenizes a conversation as a frontend does, from a worker's model assets.
enum EndToEndTokenizer {
    static func chatPrompt(assets: ModelAssets, messages: [[String: String]]) throws -> [Int] {
        let tokenizer = try Tokenizer(data: assets.tokenizer)
        let rendered = try ChatTemplate(assets.chatTemplate ?? "").render(
            messages: messages.map { ChatMessage(role: $0["role"]!, content: $0["content"]!) }, addGenerationPrompt: true
        )
        return tokenizer.encode(rendered, addBOS: false)
    }
}
