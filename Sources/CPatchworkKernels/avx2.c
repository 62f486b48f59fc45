// AVX2 (+ FMA, F16C) and AVX-VNNI paths: the same source, two dot-product instructions.
#include <immintrin.h>
#include <string.h>

#include "internal.h"

#define INLINE static inline __attribute__((always_inline))

// MARK: AVX2: u8 × s8 pairs into int16 (maddubs), then pairs of those into int32 (madd).
#define TARGET __attribute__((target("avx2,fma,f16c")))
#define NAME(x) x##_avx2_impl
#define DOT(sum, u, s) _mm256_add_epi32((sum), _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#include "avx2_q.inc"
#undef TARGET
#undef NAME
#undef DOT

// MARK: AVX-VNNI: vpdpbusd on 256-bit registers.
#define TARGET __attribute__((target("avx2,fma,f16c,avxvnni")))
#define NAME(x) x##_avxvnni_impl
#define DOT(sum, u, s) _mm256_dpbusd_avx_epi32((sum), (u), (s))
#include "avx2_q.inc"
#undef TARGET
#undef NAME
#undef DOT

__attribute__((target("avx2,fma,f16c")))
void pw_matmul_q_avx2(const pw_matrix *w, const pw_qact *a, int rows, float *y, int ldy, int g0, int g1, int accumulate) {
    pw_matmul_q_avx2_impl(w, a, rows, y, ldy, g0, g1, accumulate);
}

__attribute__((target("avx2,fma,f16c,avxvnni")))
void pw_matmul_q_avxvnni(const pw_matrix *w, const pw_qact *a, int rows, float *y, int ldy, int g0, int g1, int accumulate) {
    pw_matmul_q_avxvnni_impl(w, a, rows, y, ldy, g0, g1, accumulate);
}

#define T2 __attribute__((target("avx2,fma,f16c")))

INLINE T2 float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

T2 void pw_quantize_row_avx2(const float *x, int cols, int8_t *q, float *d, int32_t *s) {
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int b = 0; b < cols / 32; b++) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(x + 32 * b + 8 * i);
            m = _mm256_max_ps(m, _mm256_and_ps(v[i], sign));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
        float amax = _mm_cvtss_f32(m4);
        float scale = amax / 127.0f, inverse = scale != 0 ? 1.0f / scale : 0.0f;
        __m256 iv = _mm256_set1_ps(inverse);
        int32_t codes[32];
        for (int i = 0; i < 4; i++) _mm256_storeu_si256((__m256i *)(codes + 8 * i), _mm256_cvtps_epi32(_mm256_mul_ps(v[i], iv)));
        int32_t sums[2] = {0, 0};
        for (int i = 0; i < 32; i++) {
            q[32 * b + i] = (int8_t)codes[i];
            sums[i / 16] += codes[i];
        }
        d[b] = scale;
        s[2 * b] = sums[0];
        s[2 * b + 1] = sums[1];
    }
}

INLINE T2 __m256 dense_load8(pw_kind kind, const uint8_t *row, int k) {
    switch (kind) {
    case PW_KIND_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * (size_t)k)));
    case PW_KIND_BF16: return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(row + 2 * (size_t)k))), 16));
    default: return _mm256_loadu_ps((const float *)(row + 4 * (size_t)k));
    }
}

static inline float dense_value(pw_kind kind, const uint8_t *row, int k) {
    uint16_t bits;
    switch (kind) {
    case PW_KIND_F16: memcpy(&bits, row + 2 * (size_t)k, 2); return pw_half_to_float(bits);
    case PW_KIND_BF16: memcpy(&bits, row + 2 * (size_t)k, 2); return pw_bf16_to_float(bits);
    default: { float f; memcpy(&f, row + 4 * (size_t)k, 4); return f; }
    }
}

INLINE T2 void dense_block8(const pw_kind kind, const int RO, const int RC, const pw_matrix *w, const float *x, int ldx, int m0,
                            float *y, int ldy, int o, int accumulate) {
    __m256 acc[4][4];
    for (int i = 0; i < RO; i++) for (int r = 0; r < RC; r++) acc[i][r] = _mm256_setzero_ps();
    const uint8_t *rows[4];
    for (int i = 0; i < RO; i++) rows[i] = w->data + (size_t)(o + i) * w->group_bytes;
    int k = 0;
    for (; k + 8 <= w->cols; k += 8) {
        __m256 wk[4];
        for (int i = 0; i < RO; i++) wk[i] = dense_load8(kind, rows[i], k);
        for (int r = 0; r < RC; r++) {
            __m256 xv = _mm256_loadu_ps(x + (size_t)(m0 + r) * ldx + k);
            for (int i = 0; i < RO; i++) acc[i][r] = _mm256_fmadd_ps(wk[i], xv, acc[i][r]);
        }
    }
    for (int r = 0; r < RC; r++) {
        for (int i = 0; i < RO; i++) {
            float v = hsum8(acc[i][r]);
            for (int t = k; t < w->cols; t++) v += dense_value(kind, rows[i], t) * x[(size_t)(m0 + r) * ldx + t];
            float *out = y + (size_t)(m0 + r) * ldy + o + i;
            *out = accumulate ? *out + v : v;
        }
    }
}

INLINE T2 void dense_kind8(const pw_kind kind, const pw_matrix *w, const float *x, int ldx, int rows, float *y, int ldy,
                           int o0, int o1, int accumulate) {
    for (int p = 0; p < rows; p += 64) {
        int pend = rows < p + 64 ? rows : p + 64;
        int o = o0;
        for (; o + 4 <= o1; o += 4) {
            int m = p;
            for (; m + 4 <= pend; m += 4) dense_block8(kind, 4, 4, w, x, ldx, m, y, ldy, o, accumulate);
            for (; m < pend; m++) dense_block8(kind, 4, 1, w, x, ldx, m, y, ldy, o, accumulate);
        }
        for (; o < o1; o++) {
            int m = p;
            for (; m + 4 <= pend; m += 4) dense_block8(kind, 1, 4, w, x, ldx, m, y, ldy, o, accumulate);
            for (; m < pend; m++) dense_block8(kind, 1, 1, w, x, ldx, m, y, ldy, o, accumulate);
        }
    }
}

T2 void pw_matmul_dense_avx2(const pw_matrix *w, const float *x, int ldx, int rows, float *y, int ldy, int o0, int o1, int accumulate) {
    switch (w->kind) {
    case PW_KIND_F16: dense_kind8(PW_KIND_F16, w, x, ldx, rows, y, ldy, o0, o1, accumulate); break;
    case PW_KIND_BF16: dense_kind8(PW_KIND_BF16, w, x, ldx, rows, y, ldy, o0, o1, accumulate); break;
    default: dense_kind8(PW_KIND_F32, w, x, ldx, rows, y, ldy, o0, o1, accumulate); break;
    }
}
