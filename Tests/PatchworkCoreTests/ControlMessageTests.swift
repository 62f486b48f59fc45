import PatchworkCore
import Testing

struct ControlMessageTests {
    @Test func roundTripsEveryKind() throws {
        let messages: [ControlMessage] = [
            .registered(RegistrationAck(workerID: WorkerID("w"), routerID: "r", eventsPort: 7001)),
            .heartbeat(WorkerHeartbeat(workerID: WorkerID("w"), sequence: 9, metrics: LoadMetrics(), adapters: [])),
            .goodbye(WorkerID("w")),
            .unknownWorker(WorkerID("w")),
            .frontendPing(FrontendPing(frontendID: "f", knownVersion: 3)),
            .clusterView(ClusterView(routerID: "r", version: 4, workers: [])),
            .viewUnchanged(version: 4),
            .refused(Refusal(reason: "no")),
        ]
        for message in messages {
            #expect(try ControlMessage(decoding: message.encoded()) == message)
        }
    }

    @Test func carriesTheProtocolVersion() throws {
        let value = try MessagePackValue(decoding: ControlMessage.goodbye(WorkerID("w")).encoded())
        #expect(value["v"] == .int(Int64(ControlMessage.protocolVersion)))
        #expect(value["type"] == .string("goodbye"))
    }

    @Test func refusesAnotherProtocolVersion() {
        let future = MessagePackValue.map([
            (.string("v"), .int(2)), (.string("type"), .string("goodbye")), (.string("body"), .string("w")),
        ]).encoded()
        #expect(throws: WireMessageError.versionMismatch(peer: 2, ours: 1)) { try ControlMessage(decoding: future) }
    }

    @Test func refusesUnknownTypesAndBadBodies() {
        let unknown = MessagePackValue.map([(.string("v"), .int(1)), (.string("type"), .string("dance")), (.string("body"), .nil_)]).encoded()
        #expect(throws: WireMessageError.unknownType("dance")) { try ControlMessage(decoding: unknown) }
        let badBody = MessagePackValue.map([(.string("v"), .int(1)), (.string("type"), .string("heartbeat")), (.string("body"), .int(3))]).encoded()
        #expect { try ControlMessage(decoding: badBody) } throws: { "\($0)".contains("malformed") }
        #expect { try ControlMessage(decoding: [0xc1]) } throws: { "\($0)".contains("malformed") }
    }
}
