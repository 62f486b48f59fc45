// The engine's inner loops: weight matrices repacked into row-interleaved tiles, int8
// activations, matrix products for decode and small batches, and a persistent thread pool.
// Every SIMD path is chosen at run time (__builtin_cpu_supports); nothing here is compiled for
// the build machine, and nothing uses AMX.
#ifndef PATCHWORK_KERNELS_H
#define PATCHWORK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Instruction sets

/// The kernel paths, from the portable one up. Each is used only when the CPU has it.
typedef enum {
    PW_ISA_SCALAR = 0,
    /// AVX2 + FMA + F16C (x86-64-v3).
    PW_ISA_AVX2 = 1,
    /// AVX2 with the VEX-encoded VNNI dot product (Intel Alder Lake, Sapphire Rapids and later).
    PW_ISA_AVXVNNI = 2,
    /// AVX-512 F/BW/VL/DQ with VNNI (Intel Ice Lake and later, AMD Zen 4 and later).
    PW_ISA_AVX512VNNI = 3,
} pw_isa;

/// The best path this CPU supports.
pw_isa pw_isa_best(void);
/// The path in use (the best one unless pw_isa_select chose another).
pw_isa pw_isa_active(void);
/// Uses `isa` from now on; returns 0 (and changes nothing) when the CPU lacks it.
int pw_isa_select(pw_isa isa);
/// Whether the CPU supports `isa`.
int pw_isa_supported(pw_isa isa);
/// "scalar", "avx2", "avxvnni", "avx512vnni".
const char *pw_isa_name(pw_isa isa);
/// CPUs the process may run on (sched_getaffinity), at least 1.
int pw_available_cpus(void);
/// Whether the CPU has AVX-512 F/BW/VL/DQ (for choosing OpenBLAS's core type).
int pw_cpu_has_avx512(void);
/// Whether the CPU has AVX2, FMA and F16C (the AVX2 kernel path).
int pw_cpu_has_avx2(void);

// MARK: - Weight matrices

/// How a packed matrix stores its values. Quantized kinds hold 16 rows × 32 columns per tile,
/// unsigned integer codes `q` with per-(row, 32-column block) f16 scales: `w = d·q + m` (the
/// `..._MIN` kinds) or `w = d·(q − z)` with a constant zero point z. Dense kinds are plain rows.
typedef enum {
    /// 4-bit codes, z = 8 (Q4_0).
    PW_KIND_Q4 = 0,
    /// 4-bit codes with a minimum (Q4_1, Q4_K).
    PW_KIND_Q4_MIN = 1,
    /// 5-bit codes, z = 16 (Q5_0).
    PW_KIND_Q5 = 2,
    /// 5-bit codes with a minimum (Q5_1, Q5_K).
    PW_KIND_Q5_MIN = 3,
    /// 6-bit codes, z = 32, one scale per 16 columns (Q6_K).
    PW_KIND_Q6 = 4,
    /// 8-bit codes, z = 128 (Q8_0).
    PW_KIND_Q8 = 5,
    /// Dense rows of f16, bf16 or f32 values.
    PW_KIND_F16 = 6,
    PW_KIND_BF16 = 7,
    PW_KIND_F32 = 8,
} pw_kind;

/// GGML type ids this library can pack (the numbers GGUF files use).
enum {
    PW_GGML_F32 = 0, PW_GGML_F16 = 1, PW_GGML_Q4_0 = 2, PW_GGML_Q4_1 = 3, PW_GGML_Q5_0 = 6, PW_GGML_Q5_1 = 7,
    PW_GGML_Q8_0 = 8, PW_GGML_Q4_K = 12, PW_GGML_Q5_K = 13, PW_GGML_Q6_K = 14, PW_GGML_BF16 = 30,
};

/// A weight matrix [rows, cols] in the layout the kernels read. Quantized kinds: row groups of
/// 16 (the last one padded with zero rows), each group's codes, high-bit planes and scales in
/// sections of their own; `cols` is a multiple of 32.
typedef struct {
    pw_kind kind;
    int rows;
    int cols;
    /// Row groups (quantized kinds) or rows (dense kinds).
    int groups;
    /// Bytes of one row group (quantized) or one row (dense).
    size_t group_bytes;
    size_t bytes;
    /// 64-byte aligned.
    uint8_t *data;
} pw_matrix;

/// The kind a GGML type packs into; -1 when it cannot be packed.
int pw_kind_for_ggml_type(int ggml_type);
/// A zeroed matrix of `kind`, or NULL when the shape does not suit it (or memory is short).
pw_matrix *pw_matrix_create(pw_kind kind, int rows, int cols);
void pw_matrix_destroy(pw_matrix *matrix);
/// Packs one row of a tensor stored as `ggml_type` (GGML's block layout, `cols` values) as row
/// `row` of `matrix`. Returns 0 when the type does not suit the matrix's kind.
int pw_matrix_pack_row(pw_matrix *matrix, int row, int ggml_type, const void *source);
/// Writes row `row` of `matrix` as f32 values (embedding lookups, checks).
void pw_matrix_dequantize_row(const pw_matrix *matrix, int row, float *out);

// MARK: - Activations

/// Rows of f32 activations quantized to int8 per 32-value block: codes `q` [rows, cols], scale
/// `d` [rows, cols / 32] (value = d·q) and the sum of the codes of each 16 values `s`
/// [rows, cols / 16].
typedef struct {
    int8_t *q;
    float *d;
    int32_t *s;
    int rows;
    int cols;
    int capacity;
} pw_qact;

/// Room for `capacity` values (rows × cols) of quantized activations.
pw_qact *pw_qact_create(int capacity);
void pw_qact_destroy(pw_qact *act);
/// Quantizes rows [row_begin, row_end) of `x` (`ldx` floats apart, `cols` a multiple of 32)
/// into `act`, whose shape must already be set to (rows, cols).
void pw_quantize_rows(const float *x, int ldx, int row_begin, int row_end, pw_qact *act);

// MARK: - Products

/// `y[r, o] (+)= Σ_k w[o, k] · x[r, k]` for output rows `o` in groups [group_begin, group_end)
/// (rows of dense kinds), every activation row `r`. Quantized kinds read `act`; dense kinds
/// read `x` (`ldx` apart). `y` rows are `ldy` floats apart.
void pw_matmul(const pw_matrix *w, const float *x, int ldx, const pw_qact *act, int rows, float *y, int ldy,
               int group_begin, int group_end, int accumulate);

// MARK: - Thread pool

typedef struct pw_pool pw_pool;
/// Runs `tasks` calls of `fn(context, task, thread)`; `thread` < the pool's thread count.
typedef void (*pw_task_fn)(void *context, int task, int thread);

/// A pool of `threads` compute threads, the caller of pw_pool_run being one of them: threads − 1
/// are started now and live until pw_pool_destroy. Idle threads spin for `spin_microseconds`,
/// then sleep on a futex.
pw_pool *pw_pool_create(int threads, int spin_microseconds);
void pw_pool_destroy(pw_pool *pool);
int pw_pool_threads(const pw_pool *pool);
/// Runs tasks 0 ..< `tasks` on the pool and returns when all are done. Callers on several
/// threads take turns.
void pw_pool_run(pw_pool *pool, int tasks, pw_task_fn fn, void *context);

/// One part of a product's output: the rows of `w` land in columns `y_offset ..` of y.
typedef struct {
    const pw_matrix *w;
    int y_offset;
} pw_segment;

/// `y[r, seg.y_offset + o] (+)= Σ_k seg.w[o, k] · x[r, k]` for every segment, on the pool.
/// Activations are quantized once into `act` (capacity ≥ rows × cols) when a segment needs them.
void pw_linear(pw_pool *pool, const pw_segment *segments, int segment_count, const float *x, int ldx, int rows,
               pw_qact *act, float *y, int ldy, int accumulate);

// MARK: - Attention

/// `x[0..<n]` replaced by its softmax (the maximum subtracted first).
void pw_softmax(float *x, int n);

/// log Σ e^(x_i), the maximum subtracted first: `x_i` minus it is a log-softmax.
float pw_log_sum_exp(const float *x, int n);

/// `gate[i] = silu(gate[i]) · up[i]` for i < n (SwiGLU).
void pw_swiglu(float *gate, const float *up, int n);

/// `gate[i] = gelu_tanh(gate[i]) · up[i]` for i < n (GeGLU with the tanh approximation, gemma).
void pw_geglu_tanh(float *gate, const float *up, int n);

/// Attention of one new token: `heads` query heads sharing one key/value head (GQA), over
/// cached positions `first ..< positions` (`first` > 0: a sliding window) held in blocks of
/// `block_size` rows. Position p's key is at
/// `keys + (blocks[p / block_size] · block_size + p % block_size) · kv_stride` (the caller points
/// `keys` and `values` at its layer and head), likewise its value. Query h is at
/// `q + h · q_stride`, its output at `out + h · out_stride`; `scores` has room for
/// heads × positions floats. Keys and values are f32, or f16 when `kv_half` is set (strides
/// in elements either way). `stats`, when set, receives each head's softmax maximum and sum
/// (2 floats per head): a long context's positions may be split in parts whose outputs are
/// merged by those weights (flash-decoding).
void pw_attend_one(const float *q, int q_stride, int heads, const void *keys, const void *values, int kv_stride, int kv_half,
                   const intptr_t *blocks, int block_size, int first, int positions, int head_dim, float scale, float *scores,
                   float *out, int out_stride, float *stats);

/// `n` f32 values to f16 (round to nearest even), and back: the KV cache's rows.
void pw_f32_to_f16(const float *x, uint16_t *y, int n);
void pw_f16_to_f32(const uint16_t *x, float *y, int n);

#ifdef __cplusplus
}
#endif
#endif
