import PatchworkCore
import PatchworkTokenizer
import Testing

/// SentencePiece's merge rules on a vocabulary small enough to work out by hand (the real
/// Gemma vocabulary is compared with llama.cpp in EndToEndTests/GemmaAgreementTests).
struct SentencePieceTests {
    /// Ids: 0 <unk>, 1 <bos>, 2 <eos>, 3 ▁, 4 a, 5 b, 6 aa, 7 ab, 8 ▁a, 9 <0xC3>, 10 <0xA9>,
    /// 11 <ctl>, 12 \n (user-defined), 13 ▁ab. Higher scores merge first.
    static func tokenizer(spacePrefix: Bool = false) throws -> Tokenizer {
        let vocabulary = ["<unk>", "<bos>", "<eos>", "▁", "a", "b", "aa", "ab", "▁a", "<0xC3>", "<0xA9>", "<ctl>", "\n", "▁ab"]
        let scores: [Float] = [0, 0, 0, -1, -2, -3, -4, -5, -6, 0, 0, -1000, -1000, -7]
        return try Tokenizer(data: TokenizerData(
            vocabulary: vocabulary, merges: [],
            addedTokens: [.init(text: "<bos>", id: 1, special: true), .init(text: "<eos>", id: 2, special: true),
                          .init(text: "<ctl>", id: 11, special: true), .init(text: "\n", id: 12, special: false)],
            preTokenizerPatterns: [], bosID: 1, eosID: 2, addsBOS: true, scores: scores, addsSpacePrefix: spacePrefix
        ))
    }

    @Test func equalScoresMergeTheLeftmostPairFirst() throws {
        // "aaa": both "aa" pairs score -4; the left one merges, "a" stays.
        #expect(try Self.tokenizer().encode("aaa", addBOS: false) == [6, 4])
    }

    @Test func theHigherScoreMergesFirstWhereverItIs() throws {
        // "aab": "aa" (-4) before "ab" (-5); "bab": only "ab" can merge.
        #expect(try Self.tokenizer().encode("aab", addBOS: false) == [6, 5])
        #expect(try Self.tokenizer().encode("bab", addBOS: false) == [5, 7])
    }

    @Test func spacesBecomeTheMetaSymbolAndMergeOnward() throws {
        // " ab": ▁ a b → "▁a" (-6) on the left, "ab" (-5) on the right: "ab" first, then "▁ab" (-7).
        #expect(try Self.tokenizer().encode(" ab", addBOS: false) == [13])
        #expect(try Self.tokenizer().encode("b a", addBOS: false) == [5, 8])
        #expect(try Self.tokenizer(spacePrefix: true).encode("a", addBOS: false) == [8])
    }

    @Test func aSymbolOutsideTheVocabularyIsSpelledInByteTokens() throws {
        let t = try Self.tokenizer()
        #expect(t.encode("é", addBOS: false) == [9, 10])
        #expect(t.decode([9, 10]) == "é")
    }

    @Test func addedTokensAreFoundByteForByte() throws {
        let t = try Self.tokenizer()
        // "\r\n" is one Character in Swift; the "\n" token is still found inside it ("\r" has no
        // token and no byte token here, so it is dropped).
        #expect(t.encode("a\r\nb<ctl>a") == [1, 4, 12, 5, 11, 4])
        #expect(t.decode([1, 4, 12, 5, 11, 4, 13]) == "<bos>a\nb<ctl>a ab")
        #expect(t.decode([1, 4, 12, 5, 11, 4, 13], skipSpecial: true) == "a\nba ab")
    }
}
