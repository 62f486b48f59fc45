import Foundation

/// Process-wide engine settings and figures.
public enum Engine {
    /// Threads for matrix products (OpenBLAS).
    public static func setThreads(_ count: Int) { BLAS.setThreads(count) }

    /// The process's peak resident memory, in MB.
    public static var peakResidentMegabytes: Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }
}
