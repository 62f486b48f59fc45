import PatchworkCore

/// SentencePiece's BPE as llama.cpp runs it for `tokenizer.ggml.model = llama` (gemma, llama 2):
/// spaces become `▁`, one symbol per UTF-8 code point, and the adjacent pair whose joined text
/// is a token with the highest score merges first (the leftmost of equal scores); a symbol that
/// is no token is spelled in byte tokens `<0xNN>`.
///
/// The vocabulary is keyed by UTF-8 bytes: a `String` key would compare by canonical
/// equivalence and find "é" for "e\u{301}". Keys are the bytes' 64-bit FNV-1a, each hit checked
/// against the token's bytes (a byte-array key per token cost Gemma's 262 144 tokens 20 MB).
struct SentencePiece: Sendable {
    static let space: [UInt8] = Array("▁".utf8)

    private let vocabulary: [String]
    private let idOfHash: [UInt64: Int32]
    /// Tokens whose hash another token took first (none in Gemma's vocabulary).
    private let collisions: [[UInt8]: Int]
    private let scores: [Float]
    /// The `<0xNN>` token of each byte, where the vocabulary has one.
    private let byteTokens: [Int?]

    init(vocabulary: [String], scores: [Float]) {
        self.vocabulary = vocabulary
        var idOfHash: [UInt64: Int32] = [:], collisions: [[UInt8]: Int] = [:]
        idOfHash.reserveCapacity(vocabulary.count)
        for (id, text) in vocabulary.enumerated() {
            let hash = FNV1a.hash(text.utf8)
            if let other = idOfHash[hash] {
                // The first of equal texts wins, as a dictionary of texts would keep it.
                if !vocabulary[Int(other)].utf8.elementsEqual(text.utf8), collisions[Array(text.utf8)] == nil { collisions[Array(text.utf8)] = id }
            } else {
                idOfHash[hash] = Int32(id)
            }
        }
        self.idOfHash = idOfHash
        self.collisions = collisions
        self.scores = scores
        var byteTokens = [Int?](repeating: nil, count: 256)
        for (id, text) in vocabulary.enumerated() {
            if let byte = Self.byteValue(text) { byteTokens[Int(byte)] = byteTokens[Int(byte)] ?? id }
        }
        self.byteTokens = byteTokens
    }

    /// The token whose text is exactly `bytes`.
    private func id(of bytes: ArraySlice<UInt8>) -> Int? {
        if let id = idOfHash[FNV1a.hash(bytes)], vocabulary[Int(id)].utf8.elementsEqual(bytes) { return Int(id) }
        return collisions.isEmpty ? nil : collisions[Array(bytes)]
    }

    /// The byte a `<0xNN>` token stands for.
    static func byteValue(_ text: String) -> UInt8? {
        let u = Array(text.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }

    /// The bytes a (normal or byte) token stands for: `▁` read back as a space.
    func bytes(of text: String) -> [UInt8] {
        if let byte = Self.byteValue(text) { return [byte] }
        var out: [UInt8] = []
        let u = Array(text.utf8)
        var i = 0
        while i < u.count {
            if i + 2 < u.count, u[i] == 0xE2, u[i + 1] == 0x96, u[i + 2] == 0x81 {
                out.append(0x20)
                i += 3
            } else {
                out.append(u[i])
                i += 1
            }
        }
        return out
    }

    /// Token ids of plain text (no added tokens in it).
    func encode(_ text: ArraySlice<UInt8>, spacePrefix: Bool) -> [Int] {
        var bytes: [UInt8] = spacePrefix ? Self.space : []
        for byte in text { if byte == 0x20 { bytes += Self.space } else { bytes.append(byte) } }
        guard !bytes.isEmpty else { return [] }
        // Symbols: one per code point (its length from the lead byte).
        var start: [Int] = [], length: [Int] = []
        var i = 0
        while i < bytes.count {
            let lead = bytes[i]
            let n = lead < 0x80 ? 1 : lead >> 5 == 0b110 ? 2 : lead >> 4 == 0b1110 ? 3 : lead >> 3 == 0b11110 ? 4 : 1
            let count = min(n, bytes.count - i)
            start.append(i)
            length.append(count)
            i += count
        }
        var previous = Array(-1..<(start.count - 1)), next = Array(1...start.count)
        next[start.count - 1] = -1
        var heap = BigramHeap()
        func tryAdd(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0 else { return }
            let piece = bytes[start[left]..<(start[left] + length[left] + length[right])]
            guard let id = id(of: piece) else { return }
            heap.push(.init(score: id < scores.count ? scores[id] : 0, left: left, right: right, size: piece.count))
        }
        for k in 1..<max(1, start.count) { tryAdd(k - 1, k) }
        while let bigram = heap.pop() {
            let (l, r) = (bigram.left, bigram.right)
            // Stale: one side merged since (a symbol only grows by absorbing its right neighbour).
            guard length[l] > 0, length[r] > 0, length[l] + length[r] == bigram.size else { continue }
            length[l] += length[r]
            length[r] = 0
            next[l] = next[r]
            if next[r] >= 0 { previous[next[r]] = l }
            tryAdd(previous[l], l)
            tryAdd(l, next[l])
        }
        var out: [Int] = []
        var symbol = 0
        while symbol >= 0 {
            let piece = bytes[start[symbol]..<(start[symbol] + length[symbol])]
            if let id = id(of: piece) {
                out.append(id)
            } else {
                for byte in piece { if let id = byteTokens[Int(byte)] { out.append(id) } }
            }
            symbol = next[symbol]
        }
        return out
    }
}

/// A max-heap of candidate merges: the highest score first, the leftmost of equal scores.
private struct BigramHeap {
    struct Bigram {
        var score: Float
        var left: Int
        var right: Int
        var size: Int
        /// Whether `self` comes out before `other`.
        func precedes(_ other: Bigram) -> Bool { score != other.score ? score > other.score : left < other.left }
    }

    private var items: [Bigram] = []

    mutating func push(_ item: Bigram) {
        items.append(item)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].precedes(items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Bigram? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let (l, r) = (2 * i + 1, 2 * i + 2)
                var best = i
                if l < items.count, items[l].precedes(items[best]) { best = l }
                if r < items.count, items[r].precedes(items[best]) { best = r }
                if best == i { break }
                items.swapAt(i, best)
                i = best
            }
        }
        return top
    }
}
