import Foundation
import Logging
import PatchworkCore
import PatchworkMessaging
import ServiceLifecycle

/// The worker's serving socket (`--listen`, ROUTER): clients send requests carrying a request
/// id and get answers addressed to them. It serves the model's tokenizer and chat template now;
/// inference requests join with the batching engine.
final class ServingEndpoint: Service {
    let socket: MessageSocket
    /// The endpoint others connect to (advertised host, bound port).
    let advertised: String
    /// The model's assets, encoded once.
    private let encodedAssets: MessagePackValue
    private let logger: Logger

    init(listen: Endpoint, advertiseHost: String, assets: ModelAssets, logger: Logger) throws {
        socket = try MessageSocket(.router, bind: [listen.bindString])
        let port = socket.boundEndpoints.first.flatMap { try? Endpoint(parsing: $0).port } ?? listen.port
        advertised = Endpoint(host: advertiseHost, port: port).description
        encodedAssets = try MessagePackEncoder().encodeValue(assets)
        self.logger = logger
        logger.info("serving endpoint listening", metadata: ["endpoint": "\(socket.boundEndpoints.joined(separator: ","))", "advertised": "\(advertised)"])
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for await frames in self.socket.incoming {
                guard frames.count == 2 else { continue }
                self.handle(frames[1], from: frames[0])
            }
        }
        socket.close()
    }

    private func handle(_ payload: [UInt8], from peer: [UInt8]) {
        let reply: ServingMessage
        do {
            switch try ServingMessage(decoding: payload) {
            case .modelAssetsRequest(let requestID):
                logger.debug("model assets requested", metadata: ["request.id": "\(requestID)"])
                socket.send([peer, ServingMessage.modelAssetsReply(requestID: requestID, encodedAssets: encodedAssets)])
                return
            case let other:
                reply = .failure(ServingFailure(requestID: nil, code: .badRequest, message: "a worker does not take '\(other.typeName)' messages"))
            }
        } catch {
            logger.warning("refusing serving message", metadata: ["error": "\(error)"])
            reply = .failure(ServingFailure(requestID: nil, code: .badRequest, message: error.description))
        }
        do { socket.send([peer, try reply.encoded()]) } catch {
            logger.error("cannot encode serving reply", metadata: ["error": "\(error)"])
        }
    }
}
