/// Time as it counts towards a peer's silence: wall-clock time, except that a gap between two
/// readings longer than `maxGap` counts as `maxGap`.
///
/// A router that was itself stalled (paused, or starved of CPU so that its loops ran late) did
/// not watch its peers meanwhile, and their messages may still wait unread in its queue: that
/// time is nobody's silence. The router reads the clock at least every 200 ms, so on a healthy
/// host no gap comes near its `maxGap` (1 s) and the clock is the wall clock.
public struct SilenceClock: Sendable, Equatable {
    public let maxGap: Double
    private var lastWall: Double?
    /// Seconds of observed time since the first reading.
    public private(set) var observed: Double = 0

    public init(maxGap: Double) {
        self.maxGap = maxGap
    }

    /// Advances to wall-clock time `now` (seconds) and returns the observed time.
    public mutating func read(_ now: Double) -> Double {
        if let lastWall { observed += min(max(0, now - lastWall), maxGap) }
        lastWall = max(lastWall ?? now, now)
        return observed
    }
}
