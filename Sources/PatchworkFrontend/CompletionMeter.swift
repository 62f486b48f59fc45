import Metrics
import PatchworkCore
import Synchronization

/// The frontend's per-completion metrics, recorded as the messages pass: time to the first
/// token, time between tokens of each choice, tokens completed.
final class CompletionMeter: Sendable {
    private struct State {
        var firstToken = true
        var lastToken: [ContinuousClock.Instant?]
    }

    private let started = ContinuousClock.now
    private let state: Mutex<State>
    private let timeToFirstToken: Timer
    private let interTokenLatency: Timer
    private let completionTokens: Counter

    init(model: String, choices: Int) {
        state = Mutex(State(lastToken: Array(repeating: nil, count: choices)))
        timeToFirstToken = Timer(label: "patchwork_frontend_time_to_first_token_seconds", dimensions: [("model", model)])
        interTokenLatency = Timer(label: "patchwork_frontend_inter_token_latency_seconds", dimensions: [("model", model)])
        completionTokens = Counter(label: "patchwork_frontend_completion_tokens_total", dimensions: [("model", model)])
    }

    func observe(_ message: ServingMessage, choice: Int) {
        guard case .chunk(let chunk) = message, !chunk.tokens.isEmpty else { return }
        let now = ContinuousClock.now
        let (first, previous) = state.withLock { state in
            defer {
                state.firstToken = false
                if choice < state.lastToken.count { state.lastToken[choice] = now }
            }
            return (state.firstToken, choice < state.lastToken.count ? state.lastToken[choice] : nil)
        }
        if first { timeToFirstToken.record(duration: now - started) }
        if let previous { interTokenLatency.record(duration: now - previous) }
    }

    func completed(tokens: Int) { completionTokens.increment(by: tokens) }
}
