// The forward pass's steps built on e^x, in vector loops (libm's expf is a call per value):
// the softmax, one new token's attention over its cached keys and values (decode: the step
// that grows with the context; keys and values stay where the paged cache holds them, each
// block of positions contiguous), and SwiGLU.
#include <math.h>
#include <immintrin.h>

#include "internal.h"

// MARK: - Scalar

/// `stats`, when set, receives the maximum and the sum of e^(x − max): what merging this
/// softmax with another over other positions needs.
static void softmax_scalar(float *x, int n, float *stats) {
    float max = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inverse = 1.0f / sum;
    for (int i = 0; i < n; i++) x[i] *= inverse;
    if (stats) { stats[0] = max; stats[1] = sum; }
}

static void swiglu_scalar(float *gate, const float *up, int n) {
    for (int i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

/// gelu_tanh(g) = g/2 · (1 + tanh(√(2/π) · (g + 0.044715 g³))), PyTorch's `gelu(approximate="tanh")`.
static inline float gelu_tanh(float g) { return 0.5f * g * (1.0f + tanhf(0.7978845608028654f * g * (1.0f + 0.044715f * g * g))); }

static void geglu_tanh_scalar(float *gate, const float *up, int n) {
    for (int i = 0; i < n; i++) gate[i] = gelu_tanh(gate[i]) * up[i];
}

/// Element `i` of a row of keys or values, f32 or f16.
static inline float kv_at(const void *row, int i, int half) {
    return half ? pw_half_to_float(((const uint16_t *)row)[i]) : ((const float *)row)[i];
}

static void attend_scalar(const float *q, int q_stride, int heads, const void *keys, const void *values, int kv_stride,
                          const intptr_t *blocks, int block_size, int first, int positions, int head_dim, float scale, float *scores,
                          float *out, int out_stride, float *stats, int kv_half) {
    const size_t esize = kv_half ? 2 : 4;
    for (int h = 0; h < heads; h++) {
        const float *qh = q + (size_t)h * q_stride;
        float *s = scores + (size_t)h * positions;
        for (int p = 0; p < positions; p++) {
            const char *k = (const char *)keys + ((size_t)blocks[p / block_size] * block_size + p % block_size) * kv_stride * esize;
            float dot = 0;
            for (int d = 0; d < head_dim; d++) dot += qh[d] * kv_at(k, d, kv_half);
            s[p] = scale * dot;
        }
        softmax_scalar(s + first, positions - first, stats ? stats + 2 * h : NULL);
        for (int p = 0; p < first; p++) s[p] = 0;  // outside the sliding window
        float *o = out + (size_t)h * out_stride;
        for (int d = 0; d < head_dim; d++) o[d] = 0;
        for (int p = 0; p < positions; p++) {
            const char *v = (const char *)values + ((size_t)blocks[p / block_size] * block_size + p % block_size) * kv_stride * esize;
            for (int d = 0; d < head_dim; d++) o[d] += s[p] * kv_at(v, d, kv_half);
        }
    }
}

// MARK: - AVX2 and AVX-512: one template (nonlinear_simd.inc), two vector widths

#define T2 __attribute__((target("avx2,fma,f16c")))

static inline T2 float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

static inline T2 float hadd8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

#define TARGET T2
#define NAME(x) x##_avx2
#define W 8
#define V __m256
#define VI __m256i
#define LOAD _mm256_loadu_ps
#define STORE _mm256_storeu_ps
#define SET1 _mm256_set1_ps
#define ZERO _mm256_setzero_ps
#define ADD _mm256_add_ps
#define SUB _mm256_sub_ps
#define MUL _mm256_mul_ps
#define MAX _mm256_max_ps
#define MIN _mm256_min_ps
#define DIV _mm256_div_ps
#define SELECT_NONNEGATIVE(g, a, b) _mm256_blendv_ps((a), (b), (g))
#define FMADD _mm256_fmadd_ps
#define FNMADD _mm256_fnmadd_ps
#define ROUND(v) _mm256_round_ps((v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define TO_INT _mm256_cvtps_epi32
#define ADD_INT _mm256_add_epi32
#define SET1_INT _mm256_set1_epi32
#define SHIFT_INT _mm256_slli_epi32
#define AS_FLOAT _mm256_castsi256_ps
#define HMAX hmax8
#define HADD hadd8
#define LOADH(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define STOREH(p, v) _mm_storeu_si128((__m128i *)(p), _mm256_cvtps_ph((v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))
#include "nonlinear_simd.inc"
#undef TARGET
#undef NAME
#undef W
#undef V
#undef VI
#undef LOAD
#undef STORE
#undef SET1
#undef ZERO
#undef ADD
#undef SUB
#undef MUL
#undef MAX
#undef MIN
#undef DIV
#undef SELECT_NONNEGATIVE
#undef FMADD
#undef FNMADD
#undef ROUND
#undef TO_INT
#undef ADD_INT
#undef SET1_INT
#undef SHIFT_INT
#undef AS_FLOAT
#undef HMAX
#undef HADD
#undef LOADH
#undef STOREH

#define TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")))
#define NAME(x) x##_avx512
#define W 16
#define V __m512
#define VI __m512i
#define LOAD _mm512_loadu_ps
#define STORE _mm512_storeu_ps
#define SET1 _mm512_set1_ps
#define ZERO _mm512_setzero_ps
#define ADD _mm512_add_ps
#define SUB _mm512_sub_ps
#define MUL _mm512_mul_ps
#define MAX _mm512_max_ps
#define MIN _mm512_min_ps
#define DIV _mm512_div_ps
#define SELECT_NONNEGATIVE(g, a, b) _mm512_mask_blend_ps(_mm512_cmp_ps_mask((g), _mm512_setzero_ps(), _CMP_LT_OQ), (a), (b))
#define FMADD _mm512_fmadd_ps
#define FNMADD _mm512_fnmadd_ps
#define ROUND(v) _mm512_roundscale_ps((v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define TO_INT _mm512_cvtps_epi32
#define ADD_INT _mm512_add_epi32
#define SET1_INT _mm512_set1_epi32
#define SHIFT_INT _mm512_slli_epi32
#define AS_FLOAT _mm512_castsi512_ps
#define HMAX _mm512_reduce_max_ps
#define HADD _mm512_reduce_add_ps
#define LOADH(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define STOREH(p, v) _mm256_storeu_si256((__m256i *)(p), _mm512_cvtps_ph((v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))
#include "nonlinear_simd.inc"

// MARK: - Dispatch

void pw_softmax(float *x, int n) {
    if (n <= 0) return;
    switch (pw_isa_active()) {
    case PW_ISA_AVX512VNNI: softmax_avx512(x, n, NULL); break;
    case PW_ISA_AVX2: case PW_ISA_AVXVNNI: softmax_avx2(x, n, NULL); break;
    default: softmax_scalar(x, n, NULL); break;
    }
}

void pw_swiglu(float *gate, const float *up, int n) {
    switch (pw_isa_active()) {
    case PW_ISA_AVX512VNNI: swiglu_avx512(gate, up, n); break;
    case PW_ISA_AVX2: case PW_ISA_AVXVNNI: swiglu_avx2(gate, up, n); break;
    default: swiglu_scalar(gate, up, n); break;
    }
}

void pw_geglu_tanh(float *gate, const float *up, int n) {
    switch (pw_isa_active()) {
    case PW_ISA_AVX512VNNI: geglu_tanh_avx512(gate, up, n); break;
    case PW_ISA_AVX2: case PW_ISA_AVXVNNI: geglu_tanh_avx2(gate, up, n); break;
    default: geglu_tanh_scalar(gate, up, n); break;
    }
}

void pw_attend_one(const float *q, int q_stride, int heads, const void *keys, const void *values, int kv_stride, int kv_half,
                   const intptr_t *blocks, int block_size, int first, int positions, int head_dim, float scale, float *scores,
                   float *out, int out_stride, float *stats) {
    if (positions <= 0 || heads <= 0) return;
    if (first < 0) first = 0;
    if (first >= positions) first = positions - 1;
    pw_isa isa = pw_isa_active();
    if (isa == PW_ISA_AVX512VNNI && head_dim % 16 == 0) {
        attend_avx512(q, q_stride, heads, keys, values, kv_stride, blocks, block_size, first, positions, head_dim, scale, scores, out, out_stride, stats, kv_half);
    } else if (isa != PW_ISA_SCALAR && head_dim % 8 == 0) {
        attend_avx2(q, q_stride, heads, keys, values, kv_stride, blocks, block_size, first, positions, head_dim, scale, scores, out, out_stride, stats, kv_half);
    } else {
        attend_scalar(q, q_stride, heads, keys, values, kv_stride, blocks, block_size, first, positions, head_dim, scale, scores, out, out_stride, stats, kv_half);
    }
}

void pw_f32_to_f16(const float *x, uint16_t *y, int n) {
    switch (pw_isa_active()) {
    case PW_ISA_AVX512VNNI: to_half_avx512(x, y, n); break;
    case PW_ISA_AVX2: case PW_ISA_AVXVNNI: to_half_avx2(x, y, n); break;
    default: for (int i = 0; i < n; i++) y[i] = pw_float_to_half(x[i]); break;
    }
}

void pw_f16_to_f32(const uint16_t *x, float *y, int n) {
    switch (pw_isa_active()) {
    case PW_ISA_AVX512VNNI: from_half_avx512(x, y, n); break;
    case PW_ISA_AVX2: case PW_ISA_AVXVNNI: from_half_avx2(x, y, n); break;
    default: for (int i = 0; i < n; i++) y[i] = pw_half_to_float(x[i]); break;
    }
}

float pw_log_sum_exp(const float *x, int n) {
    if (n <= 0) return -INFINITY;
    switch (pw_isa_active()) {
    case PW_ISA_AVX512VNNI: return log_sum_exp_avx512(x, n);
    case PW_ISA_AVX2: case PW_ISA_AVXVNNI: return log_sum_exp_avx2(x, n);
    default: {
        float max = -INFINITY;
        for (int i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
        double sum = 0;
        for (int i = 0; i < n; i++) sum += expf(x[i] - max);
        return max + (float)log(sum);
    }
    }
}
