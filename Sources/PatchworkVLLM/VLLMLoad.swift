import Foundation

/// What vLLM's `/metrics` (Prometheus text) says of its load and its KV cache.
public struct VLLMLoad: Sendable, Equatable {
    public var running = 0
    public var waiting = 0
    /// Fraction of the KV cache in use, 0...1.
    public var kvUsage = 0.0
    /// From `vllm:cache_config_info`: tokens per block and blocks in all.
    public var blockSize: Int?
    public var kvBlocks: Int?
    /// From the latest `vllm:lora_requests_info` sample (vLLM writes one once it has run a
    /// request): its `--max-loras`, and the adapters of running and waiting requests.
    public var maxLoRAs: Int?
    public var runningAdapters: [String] = []
    public var waitingAdapters: [String] = []

    public init() {}

    /// One sample line: `name{label="value",...} number`.
    struct Sample {
        var name: Substring
        var labels: [String: String]
        var value: Double
    }

    /// The families read; every other line (most are histogram buckets) is skipped by its
    /// name's bytes before any parsing: the worker reads this page every second, beside a vLLM
    /// that computes on the same cores.
    static let families = [
        "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "vllm:cache_config_info", "vllm:lora_requests_info",
    ].map { Array($0.utf8) }

    public init(prometheus text: String) {
        var latestLoRA = -Double.infinity
        for bytes in text.utf8.split(separator: UInt8(ascii: "\n")) {
            guard bytes.first == UInt8(ascii: "v"), Self.families.contains(where: { Self.names(bytes, $0) }),
                  let sample = Self.sample(Substring(bytes))
            else { continue }
            switch sample.name {
            // Summed over engines (data-parallel ranks).
            case "vllm:num_requests_running": running += Int(sample.value)
            case "vllm:num_requests_waiting": waiting += Int(sample.value)
            case "vllm:kv_cache_usage_perc": kvUsage = max(kvUsage, sample.value)
            case "vllm:cache_config_info":
                blockSize = sample.labels["block_size"].flatMap { Int($0) }
                kvBlocks = (sample.labels["num_gpu_blocks"] ?? sample.labels["num_cpu_blocks"]).flatMap { Int($0) }
            case "vllm:lora_requests_info" where sample.value >= latestLoRA:
                // The value is the sample's time; the newest one is the state now.
                latestLoRA = sample.value
                let list = { (key: String) in (sample.labels[key] ?? "").split(separator: ",").map { String($0) }.filter { !$0.isEmpty } }
                maxLoRAs = sample.labels["max_lora"].flatMap { Int($0) }
                runningAdapters = list("running_lora_adapters")
                waitingAdapters = list("waiting_lora_adapters")
            default: break
            }
        }
    }

    /// Whether the sample line `bytes` is of the family `name`.
    static func names(_ bytes: Substring.UTF8View, _ name: [UInt8]) -> Bool {
        guard bytes.starts(with: name) else { return false }
        let next = bytes.dropFirst(name.count).first
        return next == UInt8(ascii: "{") || next == UInt8(ascii: " ")
    }

    static func sample(_ line: Substring) -> Sample? {
        var labels: [String: String] = [:]
        let nameEnd = line.firstIndex { $0 == "{" || $0 == " " } ?? line.endIndex
        let name = line[..<nameEnd]
        var rest = line[nameEnd...]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while let equals = rest.firstIndex(of: "=") {
                let key = rest[..<equals].trimmingCharacters(in: [",", " "])
                rest = rest[rest.index(after: equals)...]
                guard rest.first == "\"" else { return nil }
                rest = rest.dropFirst()
                var value = "", escaped = false
                while let c = rest.first {
                    rest = rest.dropFirst()
                    if escaped {
                        value.append(c == "n" ? "\n" : c)
                        escaped = false
                    } else if c == "\\" {
                        escaped = true
                    } else if c == "\"" {
                        break
                    } else {
                        value.append(c)
                    }
                }
                labels[key] = value
                if rest.first == "," { rest = rest.dropFirst() }
                if rest.first == "}" { break }
            }
            guard rest.first == "}" else { return nil }
            rest = rest.dropFirst()
        }
        guard let number = rest.split(separator: " ").first, let value = Double(number) else { return nil }
        return Sample(name: name, labels: labels, value: value)
    }
}
