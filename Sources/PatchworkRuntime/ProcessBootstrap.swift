import ArgumentParser
import Logging
import Metrics
import Prometheus

/// Process-wide setup, done once in each executable before anything logs or records.
public enum ProcessBootstrap {
    /// Bootstraps swift-log (to standard error, at `logLevel`) and swift-metrics (into a
    /// Prometheus registry, which `/metrics` renders). Returns the registry and the root logger.
    public static func start(label: String, logLevel: Logger.Level) -> (PrometheusCollectorRegistry, Logger) {
        LoggingSystem.bootstrap { name in
            var handler = StreamLogHandler.standardError(label: name)
            handler.logLevel = logLevel
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return (registry, Logger(label: label))
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
