import Synchronization

/// Bytes done and expected of one running download, written by the download's thread and read
/// by `GET /v1/loras/{name}`.
public final class DownloadProgress: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var bytesDone: Int64
        /// Nil until the size is known (a listing or a response header gives it).
        public var bytesTotal: Int64?
        public var filesDone: Int
        public var filesTotal: Int?
    }

    private let state = Mutex(Snapshot(bytesDone: 0, bytesTotal: nil, filesDone: 0, filesTotal: nil))

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    func expect(bytes: Int64?, files: Int) {
        state.withLock {
            $0.bytesTotal = bytes
            $0.filesTotal = files
        }
    }

    func set(bytesDone: Int64) { state.withLock { $0.bytesDone = bytesDone } }

    func fileFinished() { state.withLock { $0.filesDone += 1 } }
}
