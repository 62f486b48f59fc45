import COpenBLAS
import CPatchworkKernels
import Foundation

/// The kernels OpenBLAS runs on this CPU. It chooses them once, when the library loads, from
/// the CPU model it knows; Debian's 0.3.21 does not know some newer CPUs (Xeon model 207) and
/// falls back to its generic Prescott kernels, 4× slower for sgemm. The only fix is
/// `OPENBLAS_CORETYPE` before the library loads, so a process that finds a generic core on a
/// CPU with AVX-512 or AVX2 starts itself again with the variable set.
public enum OpenBLASCore {
    /// The core OpenBLAS runs ("Haswell", "SkylakeX", "Zen", "Prescott").
    public static var name: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// Cores that use AVX2 or AVX-512 kernels.
    static let fast: Set<String> = ["haswell", "skylakex", "cooperlake", "sapphirerapids", "zen", "excavator"]

    /// The core this CPU should run, when OpenBLAS chose a slower one.
    public static var better: String? {
        guard !fast.contains(name.lowercased()) else { return nil }
        if pw_cpu_has_avx512() != 0 { return "SkylakeX" }
        if pw_cpu_has_avx2() != 0 { return "Haswell" }
        return nil
    }

    /// Called first thing in `main`: runs the process again with `OPENBLAS_CORETYPE` set when
    /// OpenBLAS chose a generic core on a CPU with wider vectors, unless the operator set the
    /// variable (their choice stands) or this process is already that second run.
    public static func ensureFastKernels() {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OPENBLAS_CORETYPE"] == nil, environment[marker] == nil, let core = better else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(marker, name, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Still here: exec failed; run with the slower kernels rather than not at all.
    }

    /// Set in the second run to the core OpenBLAS first chose.
    static let marker = "PATCHWORK_OPENBLAS_FALLBACK"

    /// What to log at start-up: the core in use, and the one OpenBLAS would have chosen.
    public static var description: String {
        if let first = ProcessInfo.processInfo.environment[marker] { return "\(name) (OpenBLAS chose \(first) for this CPU)" }
        return name
    }
}
