import Foundation
import PatchworkCore
import PatchworkFormats

/// A tokenizer built from GGUF metadata (`tokenizer.ggml.*`), a Hugging Face `tokenizer.json`
/// or the data a worker sends: byte-level BPE (GPT-2 style: SmolLM2, Llama 3, Qwen) or
/// SentencePiece (``SentencePiece``: gemma).
///
/// Encoding: added/special tokens are matched first (longest first, byte for byte); for BPE the
/// rest is split by the pre-tokenizer, each piece's bytes mapped to GPT-2's byte alphabet and
/// merged by rank; for SentencePiece merged by score.
public struct Tokenizer: Sendable {
    public let vocabulary: [String]
    let ids: [String: Int]
    /// "left right" → rank (lower merges first).
    let mergeRanks: [String: Int]
    let preTokenizer: PreTokenizer
    /// Set for a SentencePiece model.
    let sentencePiece: SentencePiece?
    let addsSpacePrefix: Bool
    /// Tokens matched verbatim in text.
    let addedTokens: AddedTokenMatcher
    let addedIDs: Set<Int>
    /// Ids of control tokens (BOS, EOS, `<|im_start|>`, …).
    public let specialIDs: Set<Int>
    public let bosID: Int?
    public let eosID: Int?
    /// Whether `encode` prepends BOS.
    public let addsBOS: Bool
    /// Ids that end a turn besides EOS (gemma's `<end_of_turn>`): generation stops on them.
    public let endOfTurnIDs: [Int]

    public var count: Int { vocabulary.count }

    /// The tokenizer as data, to send to frontends (``ModelAssets``).
    public let data: TokenizerData

    /// Rebuilds a tokenizer sent as data.
    public init(data: TokenizerData) throws(ModelFileError) {
        try self.init(
            vocabulary: data.vocabulary, merges: data.merges, added: data.addedTokens.map { ($0.text, $0.id) },
            special: Set(data.addedTokens.filter(\.special).map(\.id)), patterns: data.preTokenizerPatterns,
            bos: data.bosID, eos: data.eosID, addsBOS: data.addsBOS, scores: data.scores, addsSpacePrefix: data.addsSpacePrefix ?? false,
            endOfTurn: data.endOfTurnIDs ?? []
        )
    }

    /// - Parameter scores: set for SentencePiece (then `merges` and `patterns` are empty).
    init(
        vocabulary: [String], merges: [String], added: [(String, Int)], special: Set<Int>, patterns: [String],
        bos: Int?, eos: Int?, addsBOS: Bool, scores: [Float]? = nil, addsSpacePrefix: Bool = false, endOfTurn: [Int] = []
    ) throws(ModelFileError) {
        if let scores, scores.count != vocabulary.count {
            throw ModelFileError("tokenizer has \(scores.count) scores for \(vocabulary.count) tokens")
        }
        self.vocabulary = vocabulary
        ids = scores != nil ? [:] : Dictionary(vocabulary.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        mergeRanks = Dictionary(merges.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        preTokenizer = try PreTokenizer(patterns: patterns)
        sentencePiece = scores.map { SentencePiece(vocabulary: vocabulary, scores: $0) }
        self.addsSpacePrefix = addsSpacePrefix
        addedTokens = AddedTokenMatcher(added.map { (text: $0.0, id: $0.1) })
        addedIDs = Set(added.map(\.1))
        specialIDs = special
        bosID = bos
        eosID = eos
        self.addsBOS = addsBOS
        endOfTurnIDs = endOfTurn
        data = TokenizerData(
            vocabulary: vocabulary, merges: merges,
            addedTokens: added.sorted { $0.1 < $1.1 }.map { TokenizerData.AddedToken(text: $0.0, id: $0.1, special: special.contains($0.1)) },
            preTokenizerPatterns: patterns, bosID: bos, eosID: eos, addsBOS: addsBOS, scores: scores,
            addsSpacePrefix: scores == nil ? nil : addsSpacePrefix, endOfTurnIDs: endOfTurn.isEmpty ? nil : endOfTurn
        )
    }

    /// The tokenizer of the model at `path`: a GGUF file's metadata, or a Hugging Face
    /// directory's `tokenizer.json`.
    public init(modelPath path: String) throws(ModelFileError) {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        self = isDirectory.boolValue ? try Tokenizer(huggingFaceDirectory: path) : try Tokenizer(gguf: GGUFFile(path: path))
    }

    /// From GGUF metadata: `tokenizer.ggml.model` `gpt2` (byte-level BPE) or `llama`
    /// (SentencePiece, with `tokenizer.ggml.scores`).
    public init(gguf: GGUFFile) throws(ModelFileError) {
        let m = gguf.metadata
        let model = m["tokenizer.ggml.model"]?.stringValue ?? "none"
        guard model == "gpt2" || model == "llama" else {
            throw ModelFileError("tokenizer model '\(model)' is not supported ('gpt2', byte-level BPE, and 'llama', SentencePiece, are)")
        }
        let tokens = m["tokenizer.ggml.tokens"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let merges = m["tokenizer.ggml.merges"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let types = m["tokenizer.ggml.token_type"]?.arrayValue?.compactMap(\.intValue) ?? []
        guard !tokens.isEmpty else { throw ModelFileError("GGUF has no tokenizer.ggml.tokens") }
        // Token types: 3 control, 4 user-defined; both are matched verbatim in text.
        var added: [(String, Int)] = [], special = Set<Int>()
        for (id, type) in types.enumerated() where type == 3 || type == 4 {
            added.append((tokens[id], id))
            if type == 3 { special.insert(id) }
        }
        let bos = m["tokenizer.ggml.bos_token_id"]?.intValue, eos = m["tokenizer.ggml.eos_token_id"]?.intValue
        guard model == "llama" else {
            try self.init(
                vocabulary: tokens, merges: merges, added: added, special: special,
                patterns: PreTokenizer.patterns(ggufPre: m["tokenizer.ggml.pre"]?.stringValue),
                bos: bos, eos: eos, addsBOS: m["tokenizer.ggml.add_bos_token"].map { $0 == .bool(true) } ?? false
            )
            return
        }
        let scores = m["tokenizer.ggml.scores"]?.arrayValue?.compactMap { $0.doubleValue.map(Float.init) } ?? []
        guard scores.count == tokens.count else { throw ModelFileError("GGUF SentencePiece tokenizer lacks tokenizer.ggml.scores for its \(tokens.count) tokens") }
        // As llama.cpp: a turn also ends at a control token named like an end of turn.
        let endOfTurn = ["<end_of_turn>", "<|eot_id|>", "<|im_end|>"].compactMap { name in special.first { tokens[$0] == name } }
        try self.init(
            vocabulary: tokens, merges: [], added: added, special: special, patterns: [], bos: bos, eos: eos,
            addsBOS: m["tokenizer.ggml.add_bos_token"].map { $0 == .bool(true) } ?? true, scores: scores,
            addsSpacePrefix: m["tokenizer.ggml.add_space_prefix"].map { $0 == .bool(true) } ?? true, endOfTurn: endOfTurn
        )
    }

    /// From `tokenizer.json` (and `tokenizer_config.json` for BOS/EOS).
    public init(huggingFaceDirectory path: String) throws(ModelFileError) {
        let file = (path as NSString).appendingPathComponent("tokenizer.json")
        guard let data = FileManager.default.contents(atPath: file),
              let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let model = json["model"] as? [String: Any], let vocab = model["vocab"] as? [String: Int]
        else { throw ModelFileError("\(file) is missing or has no BPE model") }
        guard (model["type"] as? String ?? "BPE") == "BPE" else { throw ModelFileError("\(file): only BPE models are supported") }
        var vocabulary = [String](repeating: "", count: (vocab.values.max() ?? -1) + 1)
        for (token, id) in vocab { vocabulary[id] = token }
        let merges: [String] = (model["merges"] as? [Any] ?? []).compactMap { entry in
            if let text = entry as? String { return text }
            if let pair = entry as? [String], pair.count == 2 { return pair.joined(separator: " ") }
            return nil
        }
        var added: [(String, Int)] = [], special = Set<Int>()
        for token in json["added_tokens"] as? [[String: Any]] ?? [] {
            guard let id = token["id"] as? Int, let content = token["content"] as? String else { continue }
            if id >= vocabulary.count { vocabulary += Array(repeating: "", count: id + 1 - vocabulary.count) }
            vocabulary[id] = content
            added.append((content, id))
            if token["special"] as? Bool == true { special.insert(id) }
        }
        let config = FileManager.default.contents(atPath: (path as NSString).appendingPathComponent("tokenizer_config.json"))
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        func tokenID(_ key: String) -> Int? {
            let value = config[key]
            let text = (value as? String) ?? ((value as? [String: Any])?["content"] as? String)
            return text.flatMap { t in added.first { $0.0 == t }?.1 ?? vocab[t] }
        }
        try self.init(
            vocabulary: vocabulary, merges: merges, added: added, special: special,
            patterns: try Self.patterns(preTokenizer: json["pre_tokenizer"]),
            bos: tokenID("bos_token"), eos: tokenID("eos_token"), addsBOS: config["add_bos_token"] as? Bool ?? false
        )
    }

    /// The split patterns of a `tokenizer.json` pre-tokenizer (Sequence, Split, ByteLevel, Digits).
    static func patterns(preTokenizer: Any?) throws(ModelFileError) -> [String] {
        guard let spec = preTokenizer as? [String: Any], let type = spec["type"] as? String else { return [PreTokenizer.gpt2] }
        switch type {
        case "Sequence":
            var result: [String] = []
            for item in spec["pretokenizers"] as? [Any] ?? [] { result += try patterns(preTokenizer: item) }
            return result
        case "Split":
            guard let pattern = spec["pattern"] as? [String: Any], let regex = (pattern["Regex"] as? String) ?? (pattern["String"] as? String).map(NSRegularExpression.escapedPattern(for:)) else {
                throw ModelFileError("tokenizer.json: Split pre-tokenizer without a pattern")
            }
            return [regex]
        case "ByteLevel":
            return spec["use_regex"] as? Bool ?? true ? [PreTokenizer.gpt2] : []
        case "Digits":
            return spec["individual_digits"] as? Bool ?? false ? [#"\p{N}"#] : [#"\p{N}+"#]
        default:
            throw ModelFileError("tokenizer.json: pre-tokenizer '\(type)' is not supported")
        }
    }

    /// Token ids of `text`; added and special tokens written in the text are recognised.
    public func encode(_ text: String, addBOS: Bool? = nil) -> [Int] {
        var result: [Int] = []
        if addBOS ?? addsBOS, let bos = bosID { result.append(bos) }
        let bytes = Array(text.utf8)
        var afterSpecial = true
        for piece in addedTokens.split(bytes) {
            switch piece {
            case .token(let id):
                result.append(id)
                afterSpecial = specialIDs.contains(id)
            case .text(let range):
                if let sentencePiece {
                    // llama.cpp puts the space prefix before text that starts the prompt or follows a control token.
                    result += sentencePiece.encode(bytes[range], spacePrefix: addsSpacePrefix && afterSpecial)
                } else {
                    for piece in preTokenizer.split(String(decoding: bytes[range], as: UTF8.self)) { result += bpe(piece) }
                }
                afterSpecial = false
            }
        }
        return result
    }

    /// Merges one pre-tokenized piece by rank and looks the symbols up.
    func bpe(_ piece: Substring) -> [Int] {
        var symbols = ByteLevel.encode(piece).map { String($0) }
        while symbols.count > 1 {
            var bestRank = Int.max, bestIndex = -1
            for i in 0..<symbols.count - 1 {
                if let rank = mergeRanks[symbols[i] + " " + symbols[i + 1]], rank < bestRank {
                    bestRank = rank
                    bestIndex = i
                }
            }
            guard bestIndex >= 0 else { break }
            let (left, right) = (symbols[bestIndex], symbols[bestIndex + 1])
            var merged: [String] = []
            merged.reserveCapacity(symbols.count)
            var i = 0
            while i < symbols.count {
                if i < symbols.count - 1 && symbols[i] == left && symbols[i + 1] == right {
                    merged.append(left + right)
                    i += 2
                } else {
                    merged.append(symbols[i])
                    i += 1
                }
            }
            symbols = merged
        }
        return symbols.flatMap { symbol in ids[symbol].map { [$0] } ?? symbol.compactMap { ids[String($0)] } }
    }

    /// The bytes a token stands for (special tokens: their text).
    public func bytes(of id: Int) -> [UInt8] {
        guard id >= 0 && id < vocabulary.count else { return [] }
        if addedIDs.contains(id) { return Array(vocabulary[id].utf8) }
        if let sentencePiece { return sentencePiece.bytes(of: vocabulary[id]) }
        return ByteLevel.decode(vocabulary[id])
    }

    /// The text of `ids`; invalid UTF-8 becomes U+FFFD.
    public func decode(_ ids: [Int], skipSpecial: Bool = false) -> String {
        String(decoding: ids.filter { !skipSpecial || !specialIDs.contains($0) }.flatMap { bytes(of: $0) }, as: UTF8.self)
    }
}

/// Turns a stream of token ids into text without splitting a UTF-8 character across chunks.
public struct StreamingDecoder: Sendable {
    private var pending: [UInt8] = []
    public init() {}

    /// The text that `bytes` completes; an unfinished character waits for the next call.
    public mutating func append(_ bytes: [UInt8]) -> String {
        pending += bytes
        var end = pending.count
        // Back off over an incomplete trailing sequence (at most 3 continuation bytes).
        var i = pending.count - 1, seen = 0
        while i >= 0 && seen < 4 {
            let byte = pending[i]
            if byte & 0xc0 == 0x80 { seen += 1; i -= 1; continue }
            let needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1
            if needed > seen + 1 { end = i }
            break
        }
        let text = String(decoding: pending[..<end], as: UTF8.self)
        pending.removeFirst(end)
        return text
    }

    /// What is left at the end of the stream.
    public mutating func finish() -> String {
        defer { pending = [] }
        return String(decoding: pending, as: UTF8.self)
    }
}
