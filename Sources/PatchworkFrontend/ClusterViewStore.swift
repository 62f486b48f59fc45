import Foundation
import PatchworkCore
import Synchronization

/// The frontend's copy of the cluster views its routers send, merged. A router whose last view
/// is older than `timeout` counts as unreachable and its view is ignored.
final class ClusterViewStore: Sendable {
    private struct State {
        var views: [ClusterView?]
        var received: [Double]
        /// When each model id was first listed, for `created` in `/v1/models`.
        var firstSeen: [String: Int] = [:]
        /// Every base model a view ever showed: asked for when no live worker serves it, it is
        /// unavailable (503), not unknown (404).
        var baseModels: Set<String> = []
    }

    private let state: Mutex<State>
    private let timeout: Double

    init(routerCount: Int, timeout: Double) {
        state = Mutex(State(views: Array(repeating: nil, count: routerCount), received: Array(repeating: 0, count: routerCount)))
        self.timeout = timeout
    }

    func update(router index: Int, view: ClusterView, now: Double) {
        state.withLock { state in
            state.views[index] = view
            state.received[index] = max(state.received[index], now)
            for worker in view.workers { state.baseModels.insert(worker.model.servedModelName.rawValue) }
        }
    }

    /// Router `index`'s socket received something at `time`: the router is there, and its view
    /// (pushed on every change) is current up to what is still queued.
    func heard(router index: Int, at time: Double) {
        state.withLock { state in
            guard state.views[index] != nil else { return }
            state.received[index] = max(state.received[index], time)
        }
    }

    /// A router answered a ping without a new view: its view is still current.
    func touch(router index: Int, now: Double) {
        state.withLock { $0.received[index] = max($0.received[index], now) }
    }

    func knownVersion(router index: Int) -> UInt64 {
        state.withLock { $0.views[index]?.version ?? 0 }
    }

    /// Whether router `index` was heard from within the timeout.
    func isReachable(router index: Int, now: Double) -> Bool {
        state.withLock { now - $0.received[index] <= timeout }
    }

    /// Routers heard from within the timeout.
    func reachableRouters(now: Double) -> Int {
        state.withLock { state in state.received.filter { now - $0 <= timeout }.count }
    }

    /// Live workers across reachable routers; a worker known to several routers appears once.
    func workers(now: Double) -> [WorkerView] {
        state.withLock { state in
            var byID: [WorkerID: WorkerView] = [:]
            for (view, received) in zip(state.views, state.received) where now - received <= timeout {
                for worker in view?.workers ?? [] where byID[worker.workerID] == nil { byID[worker.workerID] = worker }
            }
            return byID.values.sorted { $0.workerID < $1.workerID }
        }
    }

    /// An adapter no live worker holds that a reachable router can have loaded on demand.
    func loadable(_ name: String, now: Double) -> LoadableAdapter? {
        state.withLock { state in
            zip(state.views, state.received).lazy.filter { now - $0.1 <= self.timeout }
                .compactMap { $0.0?.loadable.first { $0.name.rawValue == name } }.first
        }
    }

    /// Whether `name` was ever served as a base model (whose workers may all be gone now).
    func wasServedAsBaseModel(_ name: String) -> Bool { state.withLock { $0.baseModels.contains(name) } }

    /// The first time `id` was listed (now, if never before).
    func firstSeen(_ id: String, now: Double) -> Int {
        state.withLock { state in
            if let seen = state.firstSeen[id] { return seen }
            state.firstSeen[id] = Int(now)
            return Int(now)
        }
    }
}
