// The portable path: plain loops over the tile layout. Also the reference the SIMD paths are
// tested against.
#include <math.h>
#include <string.h>

#include "internal.h"

void pw_quantize_row_scalar(const float *x, int cols, int8_t *q, float *d, int32_t *s) {
    for (int b = 0; b < cols / 32; b++) {
        const float *v = x + 32 * b;
        float amax = 0;
        for (int i = 0; i < 32; i++) {
            float a = fabsf(v[i]);
            amax = a > amax ? a : amax;
        }
        float scale = amax / 127.0f, inverse = scale != 0 ? 1.0f / scale : 0.0f;
        int32_t sums[2] = {0, 0};
        for (int i = 0; i < 32; i++) {
            int code = (int)rintf(v[i] * inverse);
            q[32 * b + i] = (int8_t)code;
            sums[i / 16] += code;
        }
        d[b] = scale;
        s[2 * b] = sums[0];
        s[2 * b + 1] = sums[1];
    }
}

/// The code at row r (within its group), column c (within block b).
static inline int code_at(pw_layout l, pw_group g, int b, int r, int c) {
    int j = c / 4, at = 4 * r + c % 4;
    if (l.code_bytes == 512) return g.codes[(size_t)b * 512 + 64 * j + at];
    uint8_t byte = g.codes[(size_t)b * 256 + 64 * (j & 3) + at];
    int q = j < 4 ? byte & 15 : byte >> 4;
    for (int p = 0; p < l.planes; p++) q |= ((g.planes[((size_t)b * l.planes + p) * 64 + at] >> j) & 1) << (4 + p);
    return q;
}

void pw_matmul_q_scalar(const pw_matrix *w, const pw_qact *a, int rows, float *y, int ldy, int g0, int g1, int accumulate) {
    pw_layout l = pw_layout_of(w->kind);
    int blocks = w->cols / 32;
    for (int gi = g0; gi < g1; gi++) {
        pw_group g = pw_group_at(w, gi);
        int valid = w->rows - gi * PW_GROUP_ROWS;
        if (valid > PW_GROUP_ROWS) valid = PW_GROUP_ROWS;
        for (int m = 0; m < rows; m++) {
            const int8_t *aq = a->q + (size_t)m * a->cols;
            const float *ad = a->d + (size_t)m * blocks;
            const int32_t *as = a->s + (size_t)m * blocks * 2;
            for (int r = 0; r < valid; r++) {
                float acc = 0;
                for (int b = 0; b < blocks; b++) {
                    int32_t sums[2] = {0, 0};
                    for (int c = 0; c < 32; c++) sums[c / 16] += code_at(l, g, b, r, c) * aq[32 * b + c];
                    float da = ad[b];
                    float dw = pw_half_to_float(g.d[(size_t)b * l.scales + r]);
                    if (l.scales == 32) {
                        float dw2 = pw_half_to_float(g.d[(size_t)b * 32 + 16 + r]);
                        acc += (dw * da) * (float)(sums[0] - l.zero * as[2 * b]);
                        acc += (dw2 * da) * (float)(sums[1] - l.zero * as[2 * b + 1]);
                    } else if (l.has_min) {
                        float mw = pw_half_to_float(g.m[(size_t)b * 16 + r]);
                        acc += dw * ((float)(sums[0] + sums[1]) * da);
                        acc += mw * (da * (float)(as[2 * b] + as[2 * b + 1]));
                    } else {
                        acc += (dw * da) * (float)(sums[0] + sums[1] - l.zero * (as[2 * b] + as[2 * b + 1]));
                    }
                }
                float *out = y + (size_t)m * ldy + gi * PW_GROUP_ROWS + r;
                *out = accumulate ? *out + acc : acc;
            }
        }
    }
}

static inline float dense_at(const pw_matrix *w, const uint8_t *row, int k) {
    switch (w->kind) {
    case PW_KIND_F16: { uint16_t b; memcpy(&b, row + 2 * (size_t)k, 2); return pw_half_to_float(b); }
    case PW_KIND_BF16: { uint16_t b; memcpy(&b, row + 2 * (size_t)k, 2); return pw_bf16_to_float(b); }
    default: { float f; memcpy(&f, row + 4 * (size_t)k, 4); return f; }
    }
}

void pw_matmul_dense_scalar(const pw_matrix *w, const float *x, int ldx, int rows, float *y, int ldy, int o0, int o1, int accumulate) {
    for (int o = o0; o < o1; o++) {
        const uint8_t *row = w->data + (size_t)o * w->group_bytes;
        for (int m = 0; m < rows; m++) {
            const float *xv = x + (size_t)m * ldx;
            float acc = 0;
            for (int k = 0; k < w->cols; k++) acc += dense_at(w, row, k) * xv[k];
            float *out = y + (size_t)m * ldy + o;
            *out = accumulate ? *out + acc : acc;
        }
    }
}
