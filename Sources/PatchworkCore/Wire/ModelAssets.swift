/// What a frontend needs to turn requests into token ids for a model: its tokenizer and chat
/// template. A worker sends them on request, so frontends need no model files of their own.
public struct ModelAssets: Codable, Sendable, Equatable {
    public var servedModelName: ModelName
    public var chatTemplate: String?
    public var tokenizer: TokenizerData

    public init(servedModelName: ModelName, chatTemplate: String?, tokenizer: TokenizerData) {
        self.servedModelName = servedModelName
        self.chatTemplate = chatTemplate
        self.tokenizer = tokenizer
    }
}

/// A byte-level BPE tokenizer as data, whatever file it came from (GGUF or `tokenizer.json`).
public struct TokenizerData: Codable, Sendable, Equatable {
    public struct AddedToken: Codable, Sendable, Equatable {
        public var text: String
        public var id: Int
        public var special: Bool
        public init(text: String, id: Int, special: Bool) {
            self.text = text
            self.id = id
            self.special = special
        }
    }

    /// Token texts in GPT-2's byte alphabet, by id.
    public var vocabulary: [String]
    /// "left right" pairs, highest priority first.
    public var merges: [String]
    public var addedTokens: [AddedToken]
    /// Regular expressions applied in turn to split text before BPE.
    public var preTokenizerPatterns: [String]
    public var bosID: Int?
    public var eosID: Int?
    public var addsBOS: Bool
    /// Set for a SentencePiece model (GGUF `tokenizer.ggml.model = llama`: gemma, llama 2):
    /// each token's score, merged highest first; nil for byte-level BPE, which uses `merges`.
    public var scores: [Float]?
    /// SentencePiece: whether a `▁` is put before the text (GGUF `add_space_prefix`).
    public var addsSpacePrefix: Bool?
    /// Ids that end a turn besides `eosID` (gemma's `<end_of_turn>`).
    public var endOfTurnIDs: [Int]?

    public init(
        vocabulary: [String], merges: [String], addedTokens: [AddedToken], preTokenizerPatterns: [String],
        bosID: Int?, eosID: Int?, addsBOS: Bool, scores: [Float]? = nil, addsSpacePrefix: Bool? = nil, endOfTurnIDs: [Int]? = nil
    ) {
        self.vocabulary = vocabulary
        self.merges = merges
        self.addedTokens = addedTokens
        self.preTokenizerPatterns = preTokenizerPatterns
        self.bosID = bosID
        self.eosID = eosID
        self.addsBOS = addsBOS
        self.scores = scores
        self.addsSpacePrefix = addsSpacePrefix
        self.endOfTurnIDs = endOfTurnIDs
    }
}
