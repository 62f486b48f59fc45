import Foundation

/// Runs blocking work (downloads, large file reads) on a thread of its own, so it never holds
/// one of the cooperative pool's few threads for seconds or minutes.
public enum BlockingThread {
    public static func run<T: Sendable, E: Error>(_ name: String, _ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: Result { () throws(E) -> T in try body() })
            }
            thread.name = name
            thread.start()
        }
        return try result.get()
    }
}
