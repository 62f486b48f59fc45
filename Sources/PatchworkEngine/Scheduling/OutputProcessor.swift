import PatchworkCore
import PatchworkTokenizer

/// Turns a step's logits into each request's output, as vLLM v1's output processor does:
/// samples the next token, detokenizes it (never splitting a UTF-8 character across chunks),
/// and applies the stop rules (end-of-sequence and stop tokens, stop strings even when they
/// span tokens, `max_tokens`). It keeps the per-request state that sampling needs.
public final class OutputProcessor {
    private struct RequestState {
        var sampler: Sampler
        var generatedCounts: [Int: Int] = [:]
        var generated = 0
        var decoder = StreamingDecoder()
        /// UTF-8 bytes decoded so far (up to a stop string, once one is found).
        var text: [UInt8] = []
        /// Bytes of `text` already sent; the rest is held back while it could be the start of a
        /// stop string (vLLM holds it back the same way).
        var sent = 0

        /// `text[sent..<end]`, now sent.
        mutating func release(upTo end: Int) -> String {
            guard end > sent else { return "" }
            defer { sent = end }
            return String(decoding: text[sent..<end], as: UTF8.self)
        }
    }

    public let tokenizer: Tokenizer
    private var requests: [RequestID: RequestState] = [:]

    public init(tokenizer: Tokenizer) {
        self.tokenizer = tokenizer
    }

    /// A request begins.
    func started(_ request: GenerationRequest) {
        requests[request.id] = RequestState(sampler: Sampler(parameters: request.parameters))
    }

    /// A request ends (finished or cancelled); its state goes.
    func ended(_ requestID: RequestID) { requests[requestID] = nil }

    /// The output of `sequence` for these logits of its last token. A token that does not end
    /// the request is appended to the sequence.
    func process(_ sequence: ScheduledSequence, logits: [Float]) -> StepOutput {
        guard var state = requests[sequence.id] else { preconditionFailure("no output state for \(sequence.id)") }
        defer { requests[sequence.id] = state }
        let parameters = sequence.request.parameters
        let choice = state.sampler.next(logits: logits, context: sequence.tokens, generated: state.generatedCounts)
        var output = StepOutput(
            requestID: sequence.id, token: nil, finishReason: nil, promptTokens: sequence.request.promptIDs.count,
            cachedPromptTokens: sequence.cachedPromptTokens, completionTokens: state.generated
        )
        var stopIDs = Set(parameters.stopTokenIDs)
        if !parameters.ignoreEOS {
            if let eos = tokenizer.eosID { stopIDs.insert(eos) }
            stopIDs.formUnion(tokenizer.endOfTurnIDs)
        }
        if stopIDs.contains(choice.token) {
            output.finishReason = .stop
            output.trailingText = state.release(upTo: state.text.count) + state.decoder.finish()
            return output
        }
        state.generated += 1
        output.completionTokens = state.generated
        let before = state.text.count
        state.text += Array(state.decoder.append(tokenizer.bytes(of: choice.token)).utf8)
        // A stop string ends the text before it, even when it spans tokens.
        if let stop = Self.firstStop(in: state.text, newFrom: before, stops: parameters.stop) {
            state.text.removeSubrange(stop...)
            let piece = state.release(upTo: state.text.count)
            output.token = Generator.Token(id: choice.token, text: piece, logprob: choice.logprob, top: choice.top)
            output.finishReason = .stop
            return output
        }
        sequence.append(choice.token)
        state.generatedCounts[choice.token, default: 0] += 1
        var piece: String
        if state.generated >= parameters.maxTokens {
            piece = state.release(upTo: state.text.count) + state.decoder.finish()
            output.finishReason = .length
        } else {
            piece = state.release(upTo: state.text.count - Self.heldBack(state.text, stops: parameters.stop))
        }
        output.token = Generator.Token(id: choice.token, text: piece, logprob: choice.logprob, top: choice.top)
        return output
    }

    /// Where the earliest stop string in `text` begins, looking only where one could end in
    /// the bytes added from `newFrom` on (earlier ones were looked for before).
    static func firstStop(in text: [UInt8], newFrom: Int, stops: [String]) -> Int? {
        var first: Int?
        for stop in stops {
            let bytes = Array(stop.utf8)
            guard !bytes.isEmpty, text.count >= bytes.count else { continue }
            var start = max(0, newFrom - bytes.count + 1)
            while start + bytes.count <= text.count, start < (first ?? .max) {
                if text[start..<start + bytes.count].elementsEqual(bytes) {
                    first = start
                    break
                }
                start += 1
            }
        }
        return first
    }

    /// Bytes at the end of `text` that begin one of `stops` (and so may yet become it).
    static func heldBack(_ text: [UInt8], stops: [String]) -> Int {
        var held = 0
        for stop in stops {
            let bytes = Array(stop.utf8)
            for length in stride(from: min(bytes.count - 1, text.count), to: held, by: -1) where text.suffix(length).elementsEqual(bytes.prefix(length)) {
                held = length
                break
            }
        }
        return held
    }
}
