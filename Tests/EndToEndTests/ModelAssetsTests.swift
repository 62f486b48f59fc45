import Foundation
import PatchworkCore
import PatchworkMessaging
import PatchworkTesting
import PatchworkTokenizer
import Testing

extension EndToEnd {
    @Suite struct ModelAssetsOnRequest {
        /// A frontend needs no model files: the worker's serving endpoint (advertised in its
        /// registration) sends the tokenizer and chat template, which tokenize as the model does.
        @Test func aWorkerSendsItsTokenizerAndChatTemplate() async throws {
            try await withCluster { cluster in
                let router = try await cluster.startRouter()
                _ = try await cluster.startWorker(routers: [router])
                let view = try await HTTPClient.get(port: router.systemPort, path: "/cluster").json()
                let worker = try #require((view["workers"] as? [[String: Any]])?.first)
                let endpoint = try #require(worker["servingEndpoint"] as? String)

                let client = try MessageSocket(.dealer, connect: [endpoint])
                defer { client.close() }
                client.send([try ServingMessage.modelAssetsRequest(requestID: requestID("r-1")).encoded()])
                var reply: ServingMessage?
                for await frames in client.incoming {
                    reply = try ServingMessage(decoding: frames[0])
                    break
                }
                guard case .modelAssets(let requestID, let assets)? = reply else {
                    Issue.record("expected model assets, got \(String(describing: reply))")
                    return
                }
                #expect(requestID.rawValue == "r-1")
                #expect(assets.servedModelName.rawValue == "SmolLM2-135M-Instruct")
                let tokenizer = try Tokenizer(data: assets.tokenizer)
                let local = try Tokenizer(modelPath: TestPaths.model.path)
                let prompt = try ChatTemplate(try #require(assets.chatTemplate)).render(
                    messages: [ChatMessage(role: "user", content: "What is the capital of France?")], addGenerationPrompt: true
                )
                #expect(tokenizer.encode(prompt) == local.encode(prompt))
                #expect(tokenizer.encode(prompt).count == 37)
            }
        }
    }
}
