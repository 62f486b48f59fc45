// Which kernel path runs: the best the CPU has, chosen once at run time.
#define _GNU_SOURCE
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#if defined(__x86_64__)
static int has_avx2(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}
static int has_avx512(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512dq");
}
#endif

int pw_isa_supported(pw_isa isa) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    switch (isa) {
    case PW_ISA_SCALAR: return 1;
    case PW_ISA_AVX2: return has_avx2();
    case PW_ISA_AVXVNNI: return has_avx2() && __builtin_cpu_supports("avxvnni");
    case PW_ISA_AVX512VNNI: return has_avx2() && has_avx512() && __builtin_cpu_supports("avx512vnni");
    }
    return 0;
#else
    return isa == PW_ISA_SCALAR;
#endif
}

pw_isa pw_isa_best(void) {
    if (pw_isa_supported(PW_ISA_AVX512VNNI)) return PW_ISA_AVX512VNNI;
    if (pw_isa_supported(PW_ISA_AVXVNNI)) return PW_ISA_AVXVNNI;
    if (pw_isa_supported(PW_ISA_AVX2)) return PW_ISA_AVX2;
    return PW_ISA_SCALAR;
}

// -1 until first use; then the path in use. Written before any product runs (start-up, tests).
static int active = -1;

pw_isa pw_isa_active(void) {
    if (active < 0) {
        // PATCHWORK_KERNELS=scalar|avx2|avxvnni|avx512vnni caps the path (checks, benchmarks).
        pw_isa chosen = pw_isa_best();
        const char *wanted = getenv("PATCHWORK_KERNELS");
        for (int isa = PW_ISA_SCALAR; wanted && isa <= PW_ISA_AVX512VNNI; isa++) {
            if (strcmp(wanted, pw_isa_name((pw_isa)isa)) == 0 && pw_isa_supported((pw_isa)isa)) chosen = (pw_isa)isa;
        }
        active = chosen;
    }
    return (pw_isa)active;
}

int pw_isa_select(pw_isa isa) {
    if (!pw_isa_supported(isa)) return 0;
    active = isa;
    return 1;
}

const char *pw_isa_name(pw_isa isa) {
    switch (isa) {
    case PW_ISA_SCALAR: return "scalar";
    case PW_ISA_AVX2: return "avx2";
    case PW_ISA_AVXVNNI: return "avxvnni";
    case PW_ISA_AVX512VNNI: return "avx512vnni";
    }
    return "unknown";
}

int pw_available_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int count = CPU_COUNT(&set);
        if (count > 0) return count;
    }
    return 1;
}

int pw_cpu_has_avx512(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return has_avx512();
#else
    return 0;
#endif
}

int pw_cpu_has_avx2(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return has_avx2();
#else
    return 0;
#endif
}
