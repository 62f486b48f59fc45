import PatchworkCore

/// Chooses one of the candidate workers for a request, given each one's cost inputs.
///
/// ``KVAwareSelector`` takes the cheapest by ``RoutingCost``; ``RoundRobinSelector`` and
/// ``RandomSelector`` ignore costs (the baselines of `patchwork-router bench`, and for engines
/// whose caches do not matter). Selectors that draw take their generator from the caller, so
/// tests pass a seeded one.
public protocol WorkerSelector: Sendable {
    /// The chosen worker, or nil when there are no candidates.
    mutating func select(from candidates: [RoutingCost.Candidate], promptBlocks: Int) -> WorkerID?
}

/// The lowest ``RoutingCost`` (`--routing-policy kv`), or a softmax draw over costs when the
/// cost has a temperature.
public struct KVAwareSelector<Generator: RandomNumberGenerator & Sendable>: WorkerSelector {
    public var cost: RoutingCost
    public var generator: Generator

    public init(cost: RoutingCost, generator: Generator) {
        self.cost = cost
        self.generator = generator
    }

    public mutating func select(from candidates: [RoutingCost.Candidate], promptBlocks: Int) -> WorkerID? {
        cost.choose(candidates, promptBlocks: promptBlocks, using: &generator)?.worker
    }
}

/// Each candidate in turn, by worker id (`--routing-policy round-robin`).
public struct RoundRobinSelector: WorkerSelector {
    /// Decisions made so far; the next one takes candidate number `turn` modulo their count.
    public private(set) var turn = 0

    public init() {}

    public mutating func select(from candidates: [RoutingCost.Candidate], promptBlocks: Int) -> WorkerID? {
        let ordered = candidates.map(\.worker).sorted()
        turn += 1
        return ordered.isEmpty ? nil : ordered[(turn - 1) % ordered.count]
    }
}

/// A candidate drawn uniformly (`--routing-policy random`).
public struct RandomSelector<Generator: RandomNumberGenerator & Sendable>: WorkerSelector {
    public var generator: Generator

    public init(generator: Generator) {
        self.generator = generator
    }

    public mutating func select(from candidates: [RoutingCost.Candidate], promptBlocks: Int) -> WorkerID? {
        // Sorted, so that a seeded generator draws the same worker whatever order came in.
        candidates.map(\.worker).sorted().randomElement(using: &generator)
    }
}

extension RoutingPolicy {
    /// This policy's selector, drawing from `generator` where it draws.
    public func selector<Generator: RandomNumberGenerator & Sendable>(cost: RoutingCost, generator: Generator) -> any WorkerSelector {
        switch self {
        case .kv: KVAwareSelector(cost: cost, generator: generator)
        case .roundRobin: RoundRobinSelector()
        case .random: RandomSelector(generator: generator)
        }
    }
}
