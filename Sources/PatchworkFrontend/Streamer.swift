import Hummingbird
import Logging
import NIOCore
import PatchworkCore

/// Writes a completion as server-sent events, as OpenAI sends them: `data: {json}` blocks,
/// then `data: [DONE]`. A client that goes away cancels its requests on the worker.
struct Streamer: Sendable {
    let attempts: Attempts
    let meter: CompletionMeter
    let logger: Logger

    func write(_ machine: CompletionStateMachine, from first: Attempt, to writer: inout any ResponseBodyWriter) async throws {
        var machine = machine
        do {
            for action in machine.start() { try await perform(action, &writer) }
            _ = try await attempts.run(&machine, from: first, meter: meter) { action in try await perform(action, &writer) }
            try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            try await writer.finish(nil)
        } catch {
            logger.info("client disconnected; cancelled", metadata: ["request.id": "\(machine.header.id)"])
            first.finish(cancel: true)
            throw error
        }
    }

    private func perform(_ action: CompletionStateMachine.Action, _ writer: inout any ResponseBodyWriter) async throws {
        switch action {
        case .send(let body):
            try await writer.write(ByteBuffer(string: "data: " + String(decoding: CompletionResponses.json(body), as: UTF8.self) + "\n\n"))
        case .sendError(let error):
            if let detail = error.detail { logger.error("request failed", metadata: ["error": "\(detail)"]) }
            try await writer.write(ByteBuffer(string: "data: " + String(decoding: CompletionResponses.json(error), as: UTF8.self) + "\n\n"))
        case .finish(let usage?):
            try await writer.write(ByteBuffer(string: "data: " + String(decoding: CompletionResponses.json(usage), as: UTF8.self) + "\n\n"))
        case .finish(nil), .fail, .retry:
            break
        }
    }
}
