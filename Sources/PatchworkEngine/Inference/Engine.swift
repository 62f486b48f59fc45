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
    ///
    /// Linux's `VmHWM`: the high-water mark of this address space. Not `getrusage`, whose
    /// `ru_maxrss` keeps the peak of the process this one was spawned from (a test runner of a
    /// gigabyte makes every child look a gigabyte).
    public static var peakResidentMegabytes: Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
        else {
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return Double(usage.ru_maxrss) / 1024
        }
        return kilobytes / 1024
    }
}
