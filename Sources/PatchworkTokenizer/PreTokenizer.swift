import Foundation
import PatchworkFormats

/// Splits text into pieces before BPE, as Hugging Face's pre-tokenizers do: a sequence of
/// regex splits whose matches and the text between them both become pieces ("isolated").
struct PreTokenizer: Sendable {
    /// GPT-2's pattern (also SmolLM2's, after its digit split).
    static let gpt2 = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// `NSRegularExpression` is immutable and documented thread-safe.
    private struct Pattern: @unchecked Sendable { let regex: NSRegularExpression }
    private let patterns: [Pattern]

    init(patterns: [String]) throws(ModelFileError) {
        var compiled: [Pattern] = []
        for pattern in patterns {
            do { compiled.append(Pattern(regex: try NSRegularExpression(pattern: pattern))) } catch {
                throw ModelFileError("pre-tokenizer pattern does not compile: \(pattern)")
            }
        }
        self.patterns = compiled
    }

    /// The patterns of a GGUF `tokenizer.ggml.pre` name (llama.cpp's names).
    static func patterns(ggufPre pre: String?) -> [String] {
        switch pre {
        case "llama-bpe", "llama3": return [llama3]
        case "qwen2", "deepseek-r1-qwen": return [qwen2]
        case "smollm": return [#"\p{N}"#, gpt2]
        default: return [gpt2]
        }
    }

    func split(_ text: String) -> [Substring] {
        var pieces: [Substring] = [Substring(text)]
        for pattern in patterns {
            var next: [Substring] = []
            for piece in pieces {
                let string = String(piece)
                let ns = string as NSString
                var cursor = 0
                for match in pattern.regex.matches(in: string, range: NSRange(location: 0, length: ns.length)) where match.range.length > 0 {
                    if match.range.location > cursor {
                        next.append(Substring(ns.substring(with: NSRange(location: cursor, length: match.range.location - cursor))))
                    }
                    next.append(Substring(ns.substring(with: match.range)))
                    cursor = match.range.location + match.range.length
                }
                if cursor < ns.length { next.append(Substring(ns.substring(from: cursor))) }
            }
            pieces = next
        }
        return pieces
    }
}
