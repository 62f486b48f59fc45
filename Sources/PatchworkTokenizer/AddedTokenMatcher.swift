/// Finds a tokenizer's added tokens (control and user-defined ones) in text, byte for byte as
/// llama.cpp does: at each position the longest token that starts there; the text between
/// them goes to the model's own algorithm.
///
/// A byte trie: matching costs the length of the longest token tried at each position, not
/// the number of tokens (gemma has 6 400 of them). Bytes, not `Character`s: Swift's grapheme
/// clusters would hide the `\n` of `\r\n`.
struct AddedTokenMatcher: Sendable {
    enum Piece: Equatable {
        case text(Range<Int>)
        case token(Int)
    }

    /// Node → (byte → child); node 0 is the root.
    private var children: [[UInt8: Int32]] = [[:]]
    /// Node → the id of the token that ends there.
    private var tokenAt: [Int32: Int] = [:]

    init(_ tokens: [(text: String, id: Int)]) {
        for (text, id) in tokens where !text.isEmpty {
            var node = 0
            for byte in text.utf8 {
                if let next = children[node][byte] {
                    node = Int(next)
                } else {
                    children.append([:])
                    children[node][byte] = Int32(children.count - 1)
                    node = children.count - 1
                }
            }
            if tokenAt[Int32(node)] == nil { tokenAt[Int32(node)] = id }
        }
    }

    /// `bytes` as runs of plain text and added tokens, in order.
    func split(_ bytes: [UInt8]) -> [Piece] {
        var pieces: [Piece] = []
        var plainStart = 0, i = 0
        while i < bytes.count {
            var node = 0, j = i
            var match: (end: Int, id: Int)?
            while j < bytes.count, let next = children[node][bytes[j]] {
                node = Int(next)
                j += 1
                if let id = tokenAt[Int32(node)] { match = (j, id) }
            }
            guard let match else {
                i += 1
                continue
            }
            if plainStart < i { pieces.append(.text(plainStart..<i)) }
            pieces.append(.token(match.id))
            i = match.end
            plainStart = i
        }
        if plainStart < bytes.count { pieces.append(.text(plainStart..<bytes.count)) }
        return pieces
    }
}
