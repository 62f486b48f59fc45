import CZeroMQ

/// The process's one ZeroMQ context.
///
/// `@unchecked Sendable`: a ZeroMQ context is thread-safe by libzmq's contract (sockets are
/// not, and never leave the thread that owns them, see ``MessageSocket``). The pointer is set
/// once and never changes.
final class ZMQContext: @unchecked Sendable {
    static let shared = ZMQContext()
    let pointer: UnsafeMutableRawPointer

    private init() {
        guard let context = zmq_ctx_new() else { fatalError("zmq_ctx_new failed: out of memory") }
        pointer = context
    }
}

/// The last libzmq error as text.
func zmqErrorText() -> String {
    String(cString: zmq_strerror(zmq_errno()))
}
