// AVX-512 VNNI: one 64-byte vector holds 16 rows × 4 columns of codes; vpdpbusd multiplies
// it by a broadcast group of 4 int8 activations into 16 int32 sums (one per row).
#include <immintrin.h>
#include <string.h>

#include "internal.h"

#define T512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#define INLINE static inline __attribute__((always_inline))

T512 void pw_quantize_row_avx512(const float *x, int cols, int8_t *q, float *d, int32_t *s) {
    const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int b = 0; b < cols / 32; b++) {
        __m512 x0 = _mm512_loadu_ps(x + 32 * b), x1 = _mm512_loadu_ps(x + 32 * b + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(x0, sign), _mm512_and_ps(x1, sign)));
        float scale = amax / 127.0f, inverse = scale != 0 ? 1.0f / scale : 0.0f;
        __m512 iv = _mm512_set1_ps(inverse);
        // Round to nearest even, as rintf does in the scalar path.
        __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, iv)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, iv));
        _mm_storeu_si128((__m128i *)(q + 32 * b), _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(q + 32 * b + 16), _mm512_cvtepi32_epi8(q1));
        d[b] = scale;
        s[2 * b] = _mm512_reduce_add_epi32(q0);
        s[2 * b + 1] = _mm512_reduce_add_epi32(q1);
    }
}

INLINE T512 __m512i broadcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/// One row group × `MC` activation rows starting at `m0`.
INLINE T512 void group_rows(const pw_kind kind, const int MC, const pw_matrix *w, int gi, const pw_qact *a, int m0,
                            float *y, int ldy, int accumulate) {
    const pw_layout l = pw_layout_of(kind);
    const pw_group g = pw_group_at(w, gi);
    const int blocks = w->cols / 32;
    const __m512i low4 = _mm512_set1_epi8(15);
    __m512 acc[4];
    for (int r = 0; r < MC; r++) acc[r] = _mm512_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        // The tiles eight blocks on (past this group's codes: its planes and scales, then the
        // next group's codes): decode reads each byte once, straight from DRAM.
        for (int line = 0; line < l.code_bytes; line += 64) _mm_prefetch((const char *)(g.codes + (size_t)(b + 8) * l.code_bytes + line), _MM_HINT_T0);
        __m512i wv[8];
        if (l.code_bytes == 512) {
            for (int j = 0; j < 8; j++) wv[j] = _mm512_loadu_si512(g.codes + (size_t)b * 512 + 64 * j);
        } else {
            for (int i = 0; i < 4; i++) {
                __m512i v = _mm512_loadu_si512(g.codes + (size_t)b * 256 + 64 * i);
                wv[i] = _mm512_and_si512(v, low4);
                wv[i + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
            }
        }
        for (int p = 0; p < l.planes; p++) {
            __m512i plane = _mm512_loadu_si512(g.planes + ((size_t)b * l.planes + p) * 64);
            const __m512i add = _mm512_set1_epi8((char)(16 << p));
            for (int j = 0; j < 8; j++) {
                __mmask64 k = _mm512_test_epi8_mask(plane, _mm512_set1_epi8((char)(1 << j)));
                wv[j] = _mm512_mask_add_epi8(wv[j], k, wv[j], add);
            }
        }
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(g.d + (size_t)b * l.scales)));
        const __m512 dw2 = l.scales == 32 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(g.d + (size_t)b * 32 + 16))) : dw;
        const __m512 mw = l.has_min ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(g.m + (size_t)b * 16))) : dw;
        for (int r = 0; r < MC; r++) {
            const int m = m0 + r;
            const int8_t *aq = a->q + (size_t)m * a->cols + 32 * b;
            const int32_t *as = a->s + ((size_t)m * blocks + b) * 2;
            const __m512 da = _mm512_set1_ps(a->d[(size_t)m * blocks + b]);
            if (l.scales == 32) {
                __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
                for (int j = 0; j < 4; j++) lo = _mm512_dpbusd_epi32(lo, wv[j], broadcast4(aq + 4 * j));
                for (int j = 4; j < 8; j++) hi = _mm512_dpbusd_epi32(hi, wv[j], broadcast4(aq + 4 * j));
                __m512 flo = _mm512_cvtepi32_ps(_mm512_sub_epi32(lo, _mm512_set1_epi32(l.zero * as[0])));
                __m512 fhi = _mm512_cvtepi32_ps(_mm512_sub_epi32(hi, _mm512_set1_epi32(l.zero * as[1])));
                acc[r] = _mm512_fmadd_ps(_mm512_mul_ps(dw, da), flo, acc[r]);
                acc[r] = _mm512_fmadd_ps(_mm512_mul_ps(dw2, da), fhi, acc[r]);
            } else {
                // Two chains of dot products: one would wait on vpdpbusd's latency each step.
                __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
                for (int j = 0; j < 8; j += 2) {
                    s0 = _mm512_dpbusd_epi32(s0, wv[j], broadcast4(aq + 4 * j));
                    s1 = _mm512_dpbusd_epi32(s1, wv[j + 1], broadcast4(aq + 4 * j + 4));
                }
                __m512i sum = _mm512_add_epi32(s0, s1);
                if (l.has_min) {
                    acc[r] = _mm512_fmadd_ps(dw, _mm512_mul_ps(_mm512_cvtepi32_ps(sum), da), acc[r]);
                    acc[r] = _mm512_fmadd_ps(mw, _mm512_mul_ps(da, _mm512_set1_ps((float)(as[0] + as[1]))), acc[r]);
                } else {
                    __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(sum, _mm512_set1_epi32(l.zero * (as[0] + as[1]))));
                    acc[r] = _mm512_fmadd_ps(_mm512_mul_ps(dw, da), f, acc[r]);
                }
            }
        }
    }
    int valid = w->rows - gi * PW_GROUP_ROWS;
    __mmask16 mask = valid >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << valid) - 1);
    for (int r = 0; r < MC; r++) {
        float *out = y + (size_t)(m0 + r) * ldy + gi * PW_GROUP_ROWS;
        __m512 v = acc[r];
        if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, out));
        _mm512_mask_storeu_ps(out, mask, v);
    }
}

#define ROWS_CASES(KIND)                                                                  \
    switch (mc) {                                                                         \
    case 4: group_rows(KIND, 4, w, gi, a, m, y, ldy, accumulate); break;                  \
    case 3: group_rows(KIND, 3, w, gi, a, m, y, ldy, accumulate); break;                  \
    case 2: group_rows(KIND, 2, w, gi, a, m, y, ldy, accumulate); break;                  \
    default: group_rows(KIND, 1, w, gi, a, m, y, ldy, accumulate); break;                 \
    }

T512 void pw_matmul_q_avx512(const pw_matrix *w, const pw_qact *a, int rows, float *y, int ldy, int g0, int g1, int accumulate) {
    // Activation rows in panels of 64 stay in L1/L2 while the groups' tiles stream by.
    for (int p = 0; p < rows; p += 64) {
        int pend = rows < p + 64 ? rows : p + 64;
        for (int gi = g0; gi < g1; gi++) {
            for (int m = p; m < pend; m += 4) {
                int mc = pend - m < 4 ? pend - m : 4;
                switch (w->kind) {
                case PW_KIND_Q4: ROWS_CASES(PW_KIND_Q4); break;
                case PW_KIND_Q4_MIN: ROWS_CASES(PW_KIND_Q4_MIN); break;
                case PW_KIND_Q5: ROWS_CASES(PW_KIND_Q5); break;
                case PW_KIND_Q5_MIN: ROWS_CASES(PW_KIND_Q5_MIN); break;
                case PW_KIND_Q6: ROWS_CASES(PW_KIND_Q6); break;
                default: ROWS_CASES(PW_KIND_Q8); break;
                }
            }
        }
    }
}

// MARK: - Dense rows (f16, bf16, f32) against f32 activations

INLINE T512 __m512 dense_load(pw_kind kind, const uint8_t *row, int k, __mmask16 mask) {
    switch (kind) {
    case PW_KIND_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, row + 2 * (size_t)k));
    case PW_KIND_BF16: return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, row + 2 * (size_t)k)), 16));
    default: return _mm512_maskz_loadu_ps(mask, row + 4 * (size_t)k);
    }
}

/// `RO` output rows × `RC` activation rows.
INLINE T512 void dense_block(const pw_kind kind, const int RO, const int RC, const pw_matrix *w, const float *x, int ldx, int m0,
                             float *y, int ldy, int o, int accumulate) {
    __m512 acc[4][4];
    for (int i = 0; i < RO; i++) for (int r = 0; r < RC; r++) acc[i][r] = _mm512_setzero_ps();
    const uint8_t *rows[4];
    for (int i = 0; i < RO; i++) rows[i] = w->data + (size_t)(o + i) * w->group_bytes;
    for (int k = 0; k < w->cols; k += 16) {
        int left = w->cols - k;
        __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __m512 wk[4];
        for (int i = 0; i < RO; i++) wk[i] = dense_load(kind, rows[i], k, mask);
        for (int r = 0; r < RC; r++) {
            __m512 xv = _mm512_maskz_loadu_ps(mask, x + (size_t)(m0 + r) * ldx + k);
            for (int i = 0; i < RO; i++) acc[i][r] = _mm512_fmadd_ps(wk[i], xv, acc[i][r]);
        }
    }
    for (int r = 0; r < RC; r++) {
        for (int i = 0; i < RO; i++) {
            float v = _mm512_reduce_add_ps(acc[i][r]);
            float *out = y + (size_t)(m0 + r) * ldy + o + i;
            *out = accumulate ? *out + v : v;
        }
    }
}

INLINE T512 void dense_kind(const pw_kind kind, const pw_matrix *w, const float *x, int ldx, int rows, float *y, int ldy,
                            int o0, int o1, int accumulate) {
    for (int p = 0; p < rows; p += 64) {
        int pend = rows < p + 64 ? rows : p + 64;
        int o = o0;
        for (; o + 4 <= o1; o += 4) {
            int m = p;
            for (; m + 4 <= pend; m += 4) dense_block(kind, 4, 4, w, x, ldx, m, y, ldy, o, accumulate);
            for (; m < pend; m++) dense_block(kind, 4, 1, w, x, ldx, m, y, ldy, o, accumulate);
        }
        for (; o < o1; o++) {
            int m = p;
            for (; m + 4 <= pend; m += 4) dense_block(kind, 1, 4, w, x, ldx, m, y, ldy, o, accumulate);
            for (; m < pend; m++) dense_block(kind, 1, 1, w, x, ldx, m, y, ldy, o, accumulate);
        }
    }
}

T512 void pw_matmul_dense_avx512(const pw_matrix *w, const float *x, int ldx, int rows, float *y, int ldy, int o0, int o1, int accumulate) {
    switch (w->kind) {
    case PW_KIND_F16: dense_kind(PW_KIND_F16, w, x, ldx, rows, y, ldy, o0, o1, accumulate); break;
    case PW_KIND_BF16: dense_kind(PW_KIND_BF16, w, x, ldx, rows, y, ldy, o0, o1, accumulate); break;
    default: dense_kind(PW_KIND_F32, w, x, ldx, rows, y, ldy, o0, o1, accumulate); break;
    }
}
