import Foundation
import PatchworkMessaging
import Testing

struct MessageSocketTests {
    /// The first message on `socket`, or nil after `timeout`.
    func first(_ socket: MessageSocket, timeout: Duration = .seconds(5)) async -> [[UInt8]]? {
        await withTaskGroup(of: [[UInt8]]?.self) { group in
            group.addTask {
                for await frames in socket.incoming { return frames }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let result = await group.next() ?? nil
            group.cancelAll()
            return result
        }
    }

    @Test func routerAndDealerTalkBothWaysOnAPickedPort() async throws {
        let router = try MessageSocket(.router, bind: ["tcp://127.0.0.1:*"])
        defer { router.close() }
        let endpoint = try #require(router.boundEndpoints.first)
        #expect(!endpoint.hasSuffix(":*") && !endpoint.hasSuffix(":0"))
        let dealer = try MessageSocket(.dealer, connect: [endpoint])
        defer { dealer.close() }
        dealer.send([Array("hello".utf8)])
        let request = try #require(await first(router))
        #expect(request.count == 2 && request[1] == Array("hello".utf8))
        router.send([request[0], Array("back".utf8), []])
        #expect(await first(dealer) == [Array("back".utf8), []])
    }

    @Test func subscriberBoundPublisherConnectedCarriesMultipart() async throws {
        let subscriber = try MessageSocket(.subscriber, bind: ["tcp://127.0.0.1:*"], subscriptions: [Array("kv".utf8)])
        defer { subscriber.close() }
        let publisher = try MessageSocket(.publisher, connect: [subscriber.boundEndpoints[0]])
        defer { publisher.close() }
        // PUB/SUB drops what is sent before the subscription reaches the publisher: keep sending.
        let sender = Task {
            for i in 0..<200 where !Task.isCancelled {
                publisher.send([Array("other".utf8), [UInt8(i)]])
                publisher.send([Array("kv-1".utf8), [UInt8(i)], Array(repeating: 7, count: 10_000)])
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        defer { sender.cancel() }
        let message = try #require(await first(subscriber))
        #expect(message.count == 3 && message[0] == Array("kv-1".utf8) && message[2].count == 10_000)
    }

    @Test func bindingATakenPortFailsWithAClearError() throws {
        let first = try MessageSocket(.router, bind: ["tcp://127.0.0.1:*"])
        defer { first.close() }
        #expect { try MessageSocket(.router, bind: [first.boundEndpoints[0]]) } throws: { "\($0)".contains("cannot bind") }
        #expect { try MessageSocket(.dealer, connect: ["nonsense"]) } throws: { "\($0)".contains("cannot connect") }
    }

    @Test func closeFinishesTheIncomingStream() async throws {
        let socket = try MessageSocket(.dealer, connect: ["tcp://127.0.0.1:9"])
        socket.close()
        var count = 0
        for await _ in socket.incoming { count += 1 }
        #expect(count == 0)
        socket.send([[1]])  // after close: ignored, no crash
    }
}
