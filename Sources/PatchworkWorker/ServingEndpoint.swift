import Foundation
import Logging
import Metrics
import PatchworkAdapters
import PatchworkCore
import PatchworkMessaging
import ServiceLifecycle
import Synchronization

/// The worker's serving socket (`--listen`, ROUTER): clients send requests carrying a request
/// id and get answers addressed to them — inference (to the engine loop), cancels, and the
/// model's tokenizer and chat template.
final class ServingEndpoint: Service {
    let socket: MessageSocket
    /// The model's assets, encoded once.
    private let encodedAssets: MessagePackValue
    private let engine: any EngineBackend
    private let adapters: AdapterRegistry
    private let logger: Logger
    /// Requests waiting for their adapter to load, and whether they were cancelled meanwhile
    /// (the engine does not know them yet, so it cannot take the cancel).
    private let awaitingAdapter = Mutex<[RequestID: Bool]>([:])
    /// Messages refused: not one payload frame, not a serving message, or not one a worker takes.
    private let refusedMessages = Counter(label: "patchwork_worker_refused_messages_total")

    init(socket: MessageSocket, assets: ModelAssets, engine: any EngineBackend, adapters: AdapterRegistry, logger: Logger) throws {
        self.socket = socket
        encodedAssets = try MessagePackEncoder().encodeValue(assets)
        self.engine = engine
        self.adapters = adapters
        self.logger = logger
    }

    /// Binds the serving socket; returns it and the endpoint others connect to.
    static func bind(listen: Endpoint, advertiseHost: String, logger: Logger) throws -> (MessageSocket, String) {
        let socket = try MessageSocket(.router, bind: [listen.bindString])
        let port = socket.boundEndpoints.first.flatMap { try? Endpoint(parsing: $0).port } ?? listen.port
        let advertised = Endpoint(host: advertiseHost, port: port).description
        logger.info("serving endpoint listening", metadata: ["endpoint": "\(socket.boundEndpoints.joined(separator: ","))", "advertised": "\(advertised)"])
        return (socket, advertised)
    }

    func run() async throws {
        engine.start()
        await cancelWhenGracefulShutdown {
            for await frames in self.socket.incoming {
                guard frames.count == 2 else {
                    self.refusedMessages.increment()
                    self.logger.warning("refusing serving message of \(frames.count - 1) frames (one is expected)")
                    continue
                }
                self.handle(frames[1], from: frames[0])
            }
        }
        engine.stop()
        // Let the engine tell running requests that it stops before the socket goes.
        try? await Task.sleep(for: .milliseconds(100))
        socket.close()
    }

    private func handle(_ payload: [UInt8], from peer: [UInt8]) {
        let reply: ServingMessage
        do {
            switch try ServingMessage(decoding: payload) {
            case .generate(let request):
                logger.debug("inference request", metadata: ["request.id": "\(request.requestID)", "adapter.name": "\(request.adapter?.rawValue ?? "")"])
                if let adapter = request.adapter, let source = request.adapterSource {
                    loadThenSubmit(request, adapter: adapter, source: source, from: peer)
                } else {
                    engine.submit(request, from: peer)
                }
                return
            case .cancel(let requestID):
                let waiting = awaitingAdapter.withLock { pending in
                    guard pending[requestID] != nil else { return false }
                    pending[requestID] = true
                    return true
                }
                if !waiting { engine.cancel(requestID) }
                return
            case .kvEventsRequest(let requestID, let from):
                engine.replayKVEvents(from: from, requestID: requestID, to: peer)
                return
            case .modelAssetsRequest(let requestID):
                logger.debug("model assets requested", metadata: ["request.id": "\(requestID)"])
                socket.send([peer, ServingMessage.modelAssetsReply(requestID: requestID, encodedAssets: encodedAssets)])
                return
            case let other:
                refusedMessages.increment()
                reply = .failure(ServingFailure(requestID: nil, code: .badRequest, message: "a worker does not take '\(other.typeName)' messages"))
            }
        } catch {
            // Answer under the request's id when the body names one, so its client is not left waiting.
            let requestID = (try? MessagePackValue(decoding: payload))?["body"]?["requestID"]?.stringValue.flatMap { try? RequestID($0) }
            refusedMessages.increment()
            logger.warning("refusing serving message", metadata: ["request.id": "\(requestID?.rawValue ?? "-")", "error": "\(error)"])
            reply = .failure(ServingFailure(requestID: requestID, code: .badRequest, message: error.description))
        }
        send(reply, to: peer)
    }

    /// The router chose this worker for an adapter no live worker holds: load it from its
    /// source (joining a load already running), then run the request.
    private func loadThenSubmit(_ request: InferenceRequest, adapter: AdapterName, source: String, from peer: [UInt8]) {
        let adapters = self.adapters, engine = self.engine, logger = self.logger
        awaitingAdapter.withLock { $0[request.requestID] = false }
        Task {
            do {
                if await !adapters.isLoaded(adapter.rawValue) {
                    logger.info("loading adapter on demand", metadata: ["request.id": "\(request.requestID)", "adapter.name": "\(adapter)", "adapter.source": "\(source)"])
                    _ = try await adapters.load(name: adapter.rawValue, uri: source)
                }
                let cancelled = self.awaitingAdapter.withLock { $0.removeValue(forKey: request.requestID) ?? false }
                if cancelled {
                    logger.debug("request cancelled while its adapter loaded", metadata: ["request.id": "\(request.requestID)"])
                } else {
                    engine.submit(request, from: peer)
                }
            } catch {
                self.awaitingAdapter.withLock { _ = $0.removeValue(forKey: request.requestID) }
                self.send(.failure(ServingFailure(
                    requestID: request.requestID, code: .adapterLoadFailed, message: "adapter '\(adapter)' could not be loaded from \(source): \((error as? AdapterError)?.message ?? "\(error)")"
                )), to: peer)
            }
        }
    }

    private func send(_ reply: ServingMessage, to peer: [UInt8]) {
        do { socket.send([peer, try reply.encoded()]) } catch {
            logger.error("cannot encode serving reply", metadata: ["error": "\(error)"])
        }
    }
}
