import CZeroMQ
import Foundation
import Synchronization

/// The ZeroMQ socket types Patchwork uses.
public enum SocketKind: Sendable {
    /// Many peers, addressed by identity (routers, worker serving endpoints).
    case router
    /// One logical peer, asynchronous in both directions (workers and frontends to a router).
    case dealer
    case publisher
    case subscriber

    var zmqType: Int32 {
        switch self {
        case .router: return ZMQ_ROUTER
        case .dealer: return ZMQ_DEALER
        case .publisher: return ZMQ_PUB
        case .subscriber: return ZMQ_SUB
        }
    }
}

/// A ZeroMQ socket owned by a dedicated thread, bridged to async code.
///
/// libzmq sockets are not thread-safe and `zmq_poll` blocks, so each socket lives on a thread of
/// its own, never on the Swift cooperative pool (two threads on this machine). ``send(_:)``
/// queues a multipart message and wakes the thread through an eventfd; received multipart
/// messages arrive on ``incoming``. Sends never block: a message that cannot be queued by
/// libzmq (no peer yet, high-water mark reached) is dropped and counted, as PUB sockets do; the
/// protocols on top (heartbeats carrying full state, sequence numbers) heal such losses.
public final class MessageSocket: Sendable {
    public let kind: SocketKind
    /// Endpoints as bound, with the port the system chose for port 0.
    public let boundEndpoints: [String]
    /// Received multipart messages. Finishes when the socket is closed.
    public let incoming: AsyncStream<[[UInt8]]>

    private struct Outbox {
        var messages: [[[UInt8]]] = []
        var closing = false
        var dropped = 0
    }

    private let outbox = Mutex(Outbox())
    private let wakeFD: Int32

    /// When messages last arrived, stamped by the socket's thread as libzmq hands them over, so
    /// that liveness never depends on how soon a busy process reads its queue.
    private struct Arrivals {
        var last: Double?
        /// By routing id, for ROUTER sockets.
        var byPeer: [[UInt8]: Double] = [:]
    }

    private let arrivals = Mutex(Arrivals())
    /// Routing ids remembered at most; beyond it, ids silent for an hour are forgotten.
    private static let maxRememberedPeers = 4096

    /// Creates the socket, binds and connects it, and starts its thread.
    /// - Parameters:
    ///   - bind: endpoints to bind (`tcp://host:port`; port 0 or `*` picks a free port).
    ///   - connect: endpoints to connect to; ZeroMQ reconnects by itself when a peer restarts.
    ///   - subscriptions: topic prefixes, for a subscriber (empty subscribes to everything).
    ///   - highWaterMark: messages queued per peer before libzmq drops or refuses.
    public init(
        _ kind: SocketKind, bind: [String] = [], connect: [String] = [], subscriptions: [[UInt8]] = [[]],
        highWaterMark: Int32 = 100_000
    ) throws(MessagingError) {
        self.kind = kind
        guard let socket = zmq_socket(ZMQContext.shared.pointer, kind.zmqType) else {
            throw MessagingError("cannot create a ZeroMQ socket: \(zmqErrorText())")
        }
        var linger: Int32 = 0
        var hwm = highWaterMark
        zmq_setsockopt(socket, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
        zmq_setsockopt(socket, ZMQ_SNDHWM, &hwm, MemoryLayout<Int32>.size)
        zmq_setsockopt(socket, ZMQ_RCVHWM, &hwm, MemoryLayout<Int32>.size)
        if kind == .subscriber {
            for topic in subscriptions {
                topic.withUnsafeBytes { _ = zmq_setsockopt(socket, ZMQ_SUBSCRIBE, $0.baseAddress, topic.count) }
            }
        }
        var bound: [String] = []
        do throws(MessagingError) {
            for endpoint in bind {
                guard zmq_bind(socket, endpoint) == 0 else { throw MessagingError("cannot bind \(endpoint): \(zmqErrorText())") }
                bound.append(Self.lastEndpoint(socket) ?? endpoint)
            }
            for endpoint in connect {
                guard zmq_connect(socket, endpoint) == 0 else { throw MessagingError("cannot connect to \(endpoint): \(zmqErrorText())") }
            }
        } catch {
            zmq_close(socket)
            throw error
        }
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else {
            zmq_close(socket)
            throw MessagingError("cannot create an eventfd: errno \(errno)")
        }
        wakeFD = fd
        boundEndpoints = bound
        let (stream, continuation) = AsyncStream<[[UInt8]]>.makeStream(bufferingPolicy: .bufferingOldest(100_000))
        incoming = stream

        // The socket moves to its thread here; thread creation is the full memory barrier
        // libzmq asks for when a socket changes threads. Nothing else touches it afterwards.
        let owned = OwnedSocket(pointer: socket)
        let thread = Thread { [self] in
            self.run(owned.pointer, continuation: continuation)
        }
        thread.name = "zmq-\(kind)"
        thread.start()
    }

    /// Queues a multipart message for sending. Never blocks; after ``close()`` it does nothing.
    public func send(_ frames: [[UInt8]]) {
        let queued = outbox.withLock { box -> Bool in
            guard !box.closing else { return false }
            box.messages.append(frames)
            return true
        }
        if queued { wake() }
    }

    /// Messages libzmq refused so far (no peer, or the high-water mark was reached).
    public var droppedMessages: Int { outbox.withLock { $0.dropped } }

    /// Seconds since the Unix epoch when the last message arrived, whoever sent it.
    public var lastReceived: Double? { arrivals.withLock { $0.last } }

    /// Seconds since the Unix epoch when the last message from `peer` (a routing id) arrived,
    /// on a ROUTER socket.
    public func lastReceived(from peer: [UInt8]) -> Double? { arrivals.withLock { $0.byPeer[peer] } }

    /// Sends what is queued, closes the socket and finishes ``incoming``.
    public func close() {
        outbox.withLock { $0.closing = true }
        wake()
    }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    private static func lastEndpoint(_ socket: UnsafeMutableRawPointer) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        guard zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else { return nil }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The socket thread: wait for input or a wake-up, send what is queued, receive what arrived.
    private func run(_ socket: UnsafeMutableRawPointer, continuation: AsyncStream<[[UInt8]]>.Continuation) {
        let canReceive = kind != .publisher
        var items = [
            zmq_pollitem_t(socket: socket, fd: 0, events: canReceive ? Int16(ZMQ_POLLIN) : 0, revents: 0),
            zmq_pollitem_t(socket: nil, fd: wakeFD, events: Int16(ZMQ_POLLIN), revents: 0),
        ]
        while true {
            if zmq_poll(&items, 2, -1) < 0 && zmq_errno() != EINTR { break }
            if items[1].revents & Int16(ZMQ_POLLIN) != 0 {
                var counter: UInt64 = 0
                _ = read(wakeFD, &counter, 8)
            }
            let (messages, closing) = outbox.withLock { box in
                defer { box.messages.removeAll(keepingCapacity: true) }
                return (box.messages, box.closing)
            }
            var dropped = 0
            for frames in messages where !Self.sendMultipart(socket, frames) { dropped += 1 }
            if dropped > 0 { outbox.withLock { $0.dropped += dropped } }
            if closing { break }
            if canReceive && items[0].revents & Int16(ZMQ_POLLIN) != 0 {
                while let frames = Self.receiveMultipart(socket) {
                    stampArrival(peer: kind == .router ? frames.first : nil)
                    continuation.yield(frames)
                }
            }
        }
        zmq_close(socket)
        Foundation.close(wakeFD)
        continuation.finish()
    }

    private func stampArrival(peer: [UInt8]?) {
        let now = Date().timeIntervalSince1970
        arrivals.withLock { arrivals in
            arrivals.last = now
            guard let peer else { return }
            if arrivals.byPeer[peer] == nil && arrivals.byPeer.count >= Self.maxRememberedPeers {
                arrivals.byPeer = arrivals.byPeer.filter { now - $0.value < 3600 }
            }
            arrivals.byPeer[peer] = now
        }
    }

    private static func sendMultipart(_ socket: UnsafeMutableRawPointer, _ frames: [[UInt8]]) -> Bool {
        for (index, frame) in frames.enumerated() {
            let flags = ZMQ_DONTWAIT | (index < frames.count - 1 ? ZMQ_SNDMORE : 0)
            let sent = frame.withUnsafeBytes { zmq_send(socket, $0.baseAddress, frame.count, flags) }
            // A multipart message is atomic: libzmq only fails on its first frame.
            if sent < 0 { return false }
        }
        return true
    }

    private static func receiveMultipart(_ socket: UnsafeMutableRawPointer) -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        while true {
            var message = zmq_msg_t()
            zmq_msg_init(&message)
            defer { zmq_msg_close(&message) }
            guard zmq_msg_recv(&message, socket, frames.isEmpty ? ZMQ_DONTWAIT : 0) >= 0 else { return nil }
            let size = zmq_msg_size(&message)
            if let data = zmq_msg_data(&message), size > 0 {
                frames.append(Array(UnsafeRawBufferPointer(start: data, count: size)))
            } else {
                frames.append([])
            }
            if zmq_msg_more(&message) == 0 { return frames }
        }
    }
}

/// Carries the socket pointer into its thread.
///
/// `@unchecked Sendable`: it is handed over exactly once, before the thread starts, and only
/// that thread uses it afterwards.
private struct OwnedSocket: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
}
