import Metrics
import PatchworkCore

/// Per-adapter figures on `/metrics`: `patchwork_worker_adapter_running`,
/// `patchwork_worker_adapter_waiting` and `patchwork_worker_adapter_tier` (0 disk, 1 host,
/// 2 resident), each labelled `adapter`. Recorded when they change; an unloaded adapter's
/// gauges drop to 0.
struct AdapterGauges {
    private var last: [AdapterName: AdapterLoad] = [:]

    mutating func record(_ loads: [AdapterLoad]) {
        var current: [AdapterName: AdapterLoad] = [:]
        for load in loads { current[load.name] = load }
        for (name, _) in last where current[name] == nil {
            current[name] = AdapterLoad(name: name, tier: .disk, running: 0, waiting: 0)
        }
        for (name, load) in current where last[name] != load {
            let dimensions = [("adapter", name.rawValue)]
            Gauge(label: "patchwork_worker_adapter_running", dimensions: dimensions).record(load.running)
            Gauge(label: "patchwork_worker_adapter_waiting", dimensions: dimensions).record(load.waiting)
            Gauge(label: "patchwork_worker_adapter_tier", dimensions: dimensions).record(Self.level[load.tier] ?? 0)
        }
        last = Dictionary(uniqueKeysWithValues: loads.map { ($0.name, $0) })
    }

    private static let level: [AdapterTier: Int] = [.disk: 0, .host: 1, .resident: 2]
}
