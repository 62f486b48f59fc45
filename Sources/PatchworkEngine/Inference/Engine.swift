import CPatchworkKernels
import Foundation

/// Process-wide engine settings and figures.
public enum Engine {
    /// Starts the compute pool with `count` threads (the caller of each product is one of
    /// them) and keeps OpenBLAS on one thread: the pool splits its products, so the process has
    /// one set of compute threads.
    public static func setThreads(_ count: Int) {
        BLAS.setThreads(1)
        ComputePool.shared = ComputePool(threads: count)
    }

    /// CPUs the process may run on (its affinity mask): the default `--threads`.
    public static var availableCPUs: Int { Int(pw_available_cpus()) }

    /// The kernel path in use: "avx512vnni", "avxvnni", "avx2" or "scalar".
    public static var kernelPath: String { String(cString: pw_isa_name(pw_isa_active())) }

    /// The process's peak resident memory, in MB.
    public static var peakResidentMegabytes: Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }
}
