import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The API keys the frontend enforces (`--api-keys FILE`), reloaded without a restart: on
/// SIGHUP, and within a second of the file changing. A file that no longer parses leaves the
/// keys as they were, with an error in the log. Also holds the keys' ``RateLimiter``.
final class AccessControl: Service, Sendable {
    let path: String
    private let logger: Logger
    private struct State {
        var book: APIKeyBook
        var limiter = RateLimiter()
        /// The file's modification time and size when read last.
        var stamp: [String]
    }
    private let state: Mutex<State>

    /// Reads the file; a missing or malformed one stops the start with the reason.
    init(path: String, logger: Logger) throws(APIKeyBook.LoadError) {
        self.path = path
        self.logger = logger
        let (book, stamp) = try Self.read(path)
        state = Mutex(State(book: book, stamp: stamp))
        logger.info("API keys loaded", metadata: ["file": "\(path)", "keys": "\(book.count)", "tenants": "\(book.tenants.count)"])
    }

    private static func read(_ path: String) throws(APIKeyBook.LoadError) -> (APIKeyBook, [String]) {
        let stamp = Self.stamp(path)
        guard let data = FileManager.default.contents(atPath: path) else { throw APIKeyBook.LoadError(description: "cannot read \(path)") }
        return (try APIKeyBook(json: data), stamp)
    }

    private static func stamp(_ path: String) -> [String] {
        let attributes = (try? FileManager.default.attributesOfItem(atPath: path)) ?? [:]
        return ["\(attributes[.modificationDate] ?? "-")", "\(attributes[.size] ?? "-")"]
    }

    /// Reads the file again when `force`d or when it changed since it was read.
    func reload(force: Bool) {
        let known = state.withLock { $0.stamp }
        guard force || Self.stamp(path) != known else { return }
        do {
            let (book, stamp) = try Self.read(path)
            state.withLock { state in
                state.book = book
                state.stamp = stamp
            }
            logger.notice("API keys reloaded", metadata: ["file": "\(path)", "keys": "\(book.count)", "tenants": "\(book.tenants.count)"])
        } catch {
            // Not read again until it changes again.
            state.withLock { $0.stamp = Self.stamp(path) }
            logger.error("API-key file not reloaded; the previous keys stay in force", metadata: ["file": "\(path)", "error": "\(error)"])
        }
    }

    func run() async throws {
        signal(SIGHUP, SIG_IGN)
        let hangUp = DispatchSource.makeSignalSource(signal: SIGHUP)
        hangUp.setEventHandler { [self] in reload(force: true) }
        hangUp.resume()
        defer { hangUp.cancel() }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                self.reload(force: false)
            }
        }
    }

    func grant(authorization: String?) -> APIKeyBook.Grant? {
        state.withLock { $0.book }.grant(authorization: authorization)
    }

    func admit(_ grant: APIKeyBook.Grant, tokens: Int) -> (refusal: RateLimiter.Refusal?, headers: RateLimiter.Headers) {
        let now = Date().timeIntervalSince1970
        return state.withLock { $0.limiter.admit(grant, tokens: tokens, now: now) }
    }

    func finished(_ grant: APIKeyBook.Grant) { state.withLock { $0.limiter.finished(grant) } }
}

/// The grant of the key that authenticated the request being handled; nil when the frontend
/// runs without keys.
enum RequestAccess {
    @TaskLocal static var grant: APIKeyBook.Grant?
}
