/// A conversation as a model reads it: rendered by the model's chat template (with its BOS and
/// EOS tokens as text, and the generation prompt appended) and encoded without a second BOS,
/// as transformers' `apply_chat_template(..., tokenize=True)` does.
public struct ChatPrompt: Sendable {
    public let template: ChatTemplate
    public let tokenizer: Tokenizer

    public init(template: ChatTemplate, tokenizer: Tokenizer) {
        self.template = template
        self.tokenizer = tokenizer
    }

    /// The rendered text.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws(ChatTemplateError) -> String {
        try template.render(
            messages: messages, addGenerationPrompt: addGenerationPrompt,
            bosToken: tokenizer.bosID.map { tokenizer.vocabulary[$0] } ?? "", eosToken: tokenizer.eosID.map { tokenizer.vocabulary[$0] } ?? ""
        )
    }

    /// The token ids; the template writes BOS itself when the model wants one.
    public func encode(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws(ChatTemplateError) -> [Int] {
        tokenizer.encode(try render(messages, addGenerationPrompt: addGenerationPrompt), addBOS: false)
    }
}
