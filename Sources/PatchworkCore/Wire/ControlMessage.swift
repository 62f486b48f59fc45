/// Every message on the control channel (worker ↔ router, frontend ↔ router).
///
/// On the wire: a MessagePack map `{"v": protocol version, "type": name, "body": payload}`.
/// A peer speaking another version is refused with ``ControlMessage/refused(_:)``.
public enum ControlMessage: Sendable, Equatable {
    /// Worker → router.
    case register(WorkerRegistration)
    /// Router → worker.
    case registered(RegistrationAck)
    /// Worker → router, every heartbeat interval.
    case heartbeat(WorkerHeartbeat)
    /// Worker → router, as soon as an adapter is loaded or unloaded.
    case adapterEvent(AdapterEvent)
    /// Router → worker: the adapter events up to a sequence number are in the router's view.
    case adapterEventAck(AdapterEventAck)
    /// Worker → router, on graceful shutdown: forget me now rather than after missed heartbeats.
    case goodbye(WorkerID)
    /// Router → worker: "I do not know you" (the router restarted); the worker registers again.
    case unknownWorker(WorkerID)
    /// Frontend → router.
    case frontendPing(FrontendPing)
    /// Router → frontend: the view, pushed on every change and sent when a ping shows a stale one.
    case clusterView(ClusterView)
    /// Router → frontend: answer to a ping whose known version is current.
    case viewUnchanged(version: UInt64)
    /// Frontend → router: which worker should serve this request?
    case routeRequest(RouteRequest)
    /// Router → frontend.
    case routeDecision(RouteDecision)
    /// Either way: the message was refused.
    case refused(Refusal)

    /// The version spoken by this build (see ``Envelope``).
    public static var protocolVersion: Int { Envelope.protocolVersion }

    public var typeName: String {
        switch self {
        case .register: return "register"
        case .registered: return "registered"
        case .heartbeat: return "heartbeat"
        case .adapterEvent: return "adapter_event"
        case .adapterEventAck: return "adapter_event_ack"
        case .goodbye: return "goodbye"
        case .unknownWorker: return "unknown_worker"
        case .frontendPing: return "frontend_ping"
        case .clusterView: return "cluster_view"
        case .viewUnchanged: return "view_unchanged"
        case .routeRequest: return "route_request"
        case .routeDecision: return "route_decision"
        case .refused: return "refused"
        }
    }

    /// The message as MessagePack bytes.
    public func encoded() throws -> [UInt8] {
        let encoder = MessagePackEncoder()
        let body: MessagePackValue
        switch self {
        case .register(let m): body = try encoder.encodeValue(m)
        case .registered(let m): body = try encoder.encodeValue(m)
        case .heartbeat(let m): body = try encoder.encodeValue(m)
        case .adapterEvent(let m): body = try encoder.encodeValue(m)
        case .adapterEventAck(let m): body = try encoder.encodeValue(m)
        case .goodbye(let m): body = try encoder.encodeValue(m)
        case .unknownWorker(let m): body = try encoder.encodeValue(m)
        case .frontendPing(let m): body = try encoder.encodeValue(m)
        case .clusterView(let m): body = try encoder.encodeValue(m)
        case .viewUnchanged(let version): body = .uint(version)
        case .routeRequest(let m): body = try encoder.encodeValue(m)
        case .routeDecision(let m): body = try encoder.encodeValue(m)
        case .refused(let m): body = try encoder.encodeValue(m)
        }
        return Envelope.encode(type: typeName, body: body)
    }

    /// Reads a message.
    /// - Throws: ``WireMessageError`` for another protocol version, an unknown type or a malformed body.
    public init(decoding bytes: [UInt8]) throws(WireMessageError) {
        let (type, body) = try Envelope.decode(bytes)
        let decoder = MessagePackDecoder()
        do {
            switch type {
            case "register": self = .register(try decoder.decode(WorkerRegistration.self, from: body))
            case "registered": self = .registered(try decoder.decode(RegistrationAck.self, from: body))
            case "heartbeat": self = .heartbeat(try decoder.decode(WorkerHeartbeat.self, from: body))
            case "adapter_event": self = .adapterEvent(try decoder.decode(AdapterEvent.self, from: body))
            case "adapter_event_ack": self = .adapterEventAck(try decoder.decode(AdapterEventAck.self, from: body))
            case "goodbye": self = .goodbye(try decoder.decode(WorkerID.self, from: body))
            case "unknown_worker": self = .unknownWorker(try decoder.decode(WorkerID.self, from: body))
            case "frontend_ping": self = .frontendPing(try decoder.decode(FrontendPing.self, from: body))
            case "cluster_view": self = .clusterView(try decoder.decode(ClusterView.self, from: body))
            case "view_unchanged": self = .viewUnchanged(version: try decoder.decode(UInt64.self, from: body))
            case "route_request": self = .routeRequest(try decoder.decode(RouteRequest.self, from: body))
            case "route_decision": self = .routeDecision(try decoder.decode(RouteDecision.self, from: body))
            case "refused": self = .refused(try decoder.decode(Refusal.self, from: body))
            default: throw WireMessageError.unknownType(type)
            }
        } catch let error as WireMessageError {
            throw error
        } catch {
            throw .malformed("\(type): \(error)")
        }
    }
}
