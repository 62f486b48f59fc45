import Foundation
import Logging
import PatchworkCore
import PatchworkMessaging
import ServiceLifecycle
import Synchronization

/// The frontend's connections to workers' serving endpoints: one DEALER socket per worker,
/// shared by every request to it; replies are routed to each request's stream by request id.
final class WorkerConnections: Service, Sendable {
    private struct State {
        var sockets: [String: MessageSocket] = [:]
        var streams: [RequestID: AsyncStream<ServingMessage>.Continuation] = [:]
    }

    private let state = Mutex(State())
    private let (newSockets, newSocketsContinuation) = AsyncStream.makeStream(of: MessageSocket.self)
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    /// Sends `message` for `requestID` to the worker at `endpoint`; its replies arrive on the stream.
    func send(_ message: ServingMessage, requestID: RequestID, to endpoint: String) throws -> AsyncStream<ServingMessage> {
        let (stream, continuation) = AsyncStream.makeStream(of: ServingMessage.self)
        let socket = try state.withLock { state throws -> MessageSocket in
            state.streams[requestID] = continuation
            if let socket = state.sockets[endpoint] { return socket }
            let socket = try MessageSocket(.dealer, connect: [endpoint])
            state.sockets[endpoint] = socket
            newSocketsContinuation.yield(socket)
            return socket
        }
        socket.send([try message.encoded()])
        return stream
    }

    /// Stops waiting for a request's replies (and tells the worker, when asked to).
    func finish(_ requestID: RequestID, cancelAt endpoint: String? = nil) {
        let (continuation, socket) = state.withLock { state in
            (state.streams.removeValue(forKey: requestID), endpoint.flatMap { state.sockets[$0] })
        }
        continuation?.finish()
        if let socket, let bytes = try? ServingMessage.cancel(requestID: requestID).encoded() { socket.send([bytes]) }
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for await socket in self.newSockets {
                    group.addTask { await self.receive(from: socket) }
                }
            }
        }
        state.withLock { state in
            for socket in state.sockets.values { socket.close() }
            for continuation in state.streams.values { continuation.finish() }
        }
    }

    private func receive(from socket: MessageSocket) async {
        for await frames in socket.incoming {
            guard let payload = frames.last, let message = try? ServingMessage(decoding: payload) else {
                logger.warning("dropping an undecodable reply from a worker")
                continue
            }
            let requestID: RequestID? = switch message {
            case .chunk(let chunk): chunk.requestID
            case .failure(let failure): failure.requestID
            case .modelAssets(let id, _): id
            case .kvEvents(let replay): replay.requestID
            default: nil
            }
            guard let requestID else { continue }
            _ = state.withLock { $0.streams[requestID] }?.yield(message)
        }
    }
}
