// Packing GGML blocks into tiles, reading rows back, and dispatching products by ISA.
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int pw_kind_for_ggml_type(int ggml_type) {
    switch (ggml_type) {
    case PW_GGML_Q4_0: return PW_KIND_Q4;
    case PW_GGML_Q4_1: case PW_GGML_Q4_K: return PW_KIND_Q4_MIN;
    case PW_GGML_Q5_0: return PW_KIND_Q5;
    case PW_GGML_Q5_1: case PW_GGML_Q5_K: return PW_KIND_Q5_MIN;
    case PW_GGML_Q6_K: return PW_KIND_Q6;
    case PW_GGML_Q8_0: return PW_KIND_Q8;
    case PW_GGML_F16: return PW_KIND_F16;
    case PW_GGML_BF16: return PW_KIND_BF16;
    case PW_GGML_F32: return PW_KIND_F32;
    default: return -1;
    }
}

pw_matrix *pw_matrix_create(pw_kind kind, int rows, int cols) {
    if (rows <= 0 || cols <= 0 || (int)kind < 0 || kind > PW_KIND_F32) return NULL;
    pw_matrix *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->kind = kind;
    m->rows = rows;
    m->cols = cols;
    if (pw_kind_is_dense(kind)) {
        m->groups = rows;
        m->group_bytes = (size_t)cols * (kind == PW_KIND_F32 ? 4 : 2);
    } else {
        if (cols % PW_BLOCK != 0) { free(m); return NULL; }
        pw_layout l = pw_layout_of(kind);
        size_t blocks = (size_t)cols / PW_BLOCK;
        size_t bytes = blocks * (l.code_bytes + 64 * l.planes + 2 * l.scales + (l.has_min ? 32 : 0));
        m->groups = (rows + PW_GROUP_ROWS - 1) / PW_GROUP_ROWS;
        m->group_bytes = (bytes + 63) / 64 * 64;
    }
    m->bytes = (size_t)m->groups * m->group_bytes;
    size_t allocated = (m->bytes + 63) / 64 * 64;
    m->data = aligned_alloc(64, allocated ? allocated : 64);
    if (!m->data) { free(m); return NULL; }
    memset(m->data, 0, allocated);
    return m;
}

void pw_matrix_destroy(pw_matrix *matrix) {
    if (!matrix) return;
    free(matrix->data);
    free(matrix);
}

static inline uint16_t load16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

/// The scale and minimum of sub-block j (0..7) of a Q4_K/Q5_K super-block: 6 bits each.
static void k_scale_min(const uint8_t *s, int j, int *scale, int *min) {
    if (j < 4) {
        *scale = s[j] & 63;
        *min = s[j + 4] & 63;
    } else {
        *scale = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        *min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/// One 32-column block `b` of a GGML row, as unsigned codes and f16 scales (`d[1]` is the
/// second half's scale where the kind has two; `m` the minimum where it has one).
static int decode_block(int type, const uint8_t *row, int b, uint8_t q[32], uint16_t d[2], uint16_t *m) {
    switch (type) {
    case PW_GGML_Q4_0: {
        const uint8_t *p = row + (size_t)b * 18;
        d[0] = load16(p);
        for (int i = 0; i < 16; i++) { q[i] = p[2 + i] & 15; q[i + 16] = p[2 + i] >> 4; }
        return 1;
    }
    case PW_GGML_Q4_1: {
        const uint8_t *p = row + (size_t)b * 20;
        d[0] = load16(p);
        *m = load16(p + 2);
        for (int i = 0; i < 16; i++) { q[i] = p[4 + i] & 15; q[i + 16] = p[4 + i] >> 4; }
        return 1;
    }
    case PW_GGML_Q5_0: case PW_GGML_Q5_1: {
        int with_min = type == PW_GGML_Q5_1;
        const uint8_t *p = row + (size_t)b * (with_min ? 24 : 22);
        d[0] = load16(p);
        if (with_min) *m = load16(p + 2);
        const uint8_t *hp = p + (with_min ? 4 : 2), *qs = hp + 4;
        uint32_t high = (uint32_t)hp[0] | ((uint32_t)hp[1] << 8) | ((uint32_t)hp[2] << 16) | ((uint32_t)hp[3] << 24);
        for (int i = 0; i < 16; i++) {
            q[i] = (uint8_t)((qs[i] & 15) | (((high >> i) & 1) << 4));
            q[i + 16] = (uint8_t)((qs[i] >> 4) | (((high >> (i + 16)) & 1) << 4));
        }
        return 1;
    }
    case PW_GGML_Q8_0: {
        const uint8_t *p = row + (size_t)b * 34;
        d[0] = load16(p);
        for (int i = 0; i < 32; i++) q[i] = (uint8_t)(p[2 + i] ^ 0x80);  // int8 + 128
        return 1;
    }
    case PW_GGML_Q4_K: case PW_GGML_Q5_K: {
        int five = type == PW_GGML_Q5_K;
        const uint8_t *p = row + (size_t)(b / 8) * (five ? 176 : 144);
        int j = b % 8, scale, min;
        k_scale_min(p + 4, j, &scale, &min);
        // Exact in f32 (11-bit × 6-bit); rounded once to f16 for the tile.
        d[0] = pw_float_to_half(pw_half_to_float(load16(p)) * (float)scale);
        *m = pw_float_to_half(-pw_half_to_float(load16(p + 2)) * (float)min);
        const uint8_t *qh = p + 16, *qs = p + (five ? 48 : 16) + 32 * (j / 2);
        int shift = 4 * (j % 2);
        for (int l = 0; l < 32; l++) {
            q[l] = (uint8_t)((qs[l] >> shift) & 15);
            if (five) q[l] |= (uint8_t)(((qh[l] >> j) & 1) << 4);
        }
        return 1;
    }
    case PW_GGML_Q6_K: {
        const uint8_t *p = row + (size_t)(b / 8) * 210;
        const uint8_t *ql = p, *qh = p + 128;
        const int8_t *scales = (const int8_t *)(p + 192);
        float sd = pw_half_to_float(load16(p + 208));
        int j = b % 8;
        d[0] = pw_float_to_half(sd * (float)scales[2 * j]);
        d[1] = pw_float_to_half(sd * (float)scales[2 * j + 1]);
        for (int l = 0; l < 32; l++) {
            int e = 32 * j + l, h = e / 128, r = e % 128;
            int low = (ql[64 * h + r % 64] >> (4 * (r / 64))) & 15;
            int high = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
            q[l] = (uint8_t)(low | (high << 4));
        }
        return 1;
    }
    }
    return 0;
}

int pw_matrix_pack_row(pw_matrix *w, int row, int ggml_type, const void *source) {
    if (row < 0 || row >= w->rows) return 0;
    int kind = pw_kind_for_ggml_type(ggml_type);
    if (kind != (int)w->kind) return 0;
    if (pw_kind_is_dense(w->kind)) {
        memcpy(w->data + (size_t)row * w->group_bytes, source, w->group_bytes);
        return 1;
    }
    pw_layout l = pw_layout_of(w->kind);
    pw_group g = pw_group_at(w, row / PW_GROUP_ROWS);
    uint8_t *codes = (uint8_t *)g.codes, *planes = (uint8_t *)g.planes;
    uint16_t *ds = (uint16_t *)g.d, *ms = (uint16_t *)g.m;
    int r = row % PW_GROUP_ROWS;
    for (int b = 0; b < w->cols / PW_BLOCK; b++) {
        uint8_t q[32];
        uint16_t d[2] = {0, 0}, m = 0;
        if (!decode_block(ggml_type, source, b, q, d, &m)) return 0;
        uint8_t *tile = codes + (size_t)b * l.code_bytes, *plane = planes + (size_t)b * l.planes * 64;
        for (int c = 0; c < 32; c++) {
            int j = c / 4, at = 4 * r + c % 4;
            if (l.code_bytes == 512) {
                tile[64 * j + at] = q[c];
            } else {
                uint8_t *byte = tile + 64 * (j & 3) + at;
                *byte = (j < 4) ? (uint8_t)((*byte & 0xF0) | (q[c] & 15)) : (uint8_t)((*byte & 0x0F) | ((q[c] & 15) << 4));
                for (int p = 0; p < l.planes; p++) {
                    if ((q[c] >> (4 + p)) & 1) plane[64 * p + at] |= (uint8_t)(1u << j);
                    else plane[64 * p + at] &= (uint8_t)~(1u << j);
                }
            }
        }
        ds[(size_t)b * l.scales + r] = d[0];
        if (l.scales == 32) ds[(size_t)b * l.scales + 16 + r] = d[1];
        if (l.has_min) ms[(size_t)b * 16 + r] = m;
    }
    return 1;
}

void pw_matrix_dequantize_row(const pw_matrix *w, int row, float *out) {
    if (pw_kind_is_dense(w->kind)) {
        const uint8_t *p = w->data + (size_t)row * w->group_bytes;
        for (int k = 0; k < w->cols; k++) {
            uint16_t bits = load16(p + 2 * (size_t)k);
            switch (w->kind) {
            case PW_KIND_F16: out[k] = pw_half_to_float(bits); break;
            case PW_KIND_BF16: out[k] = pw_bf16_to_float(bits); break;
            default: memcpy(out + k, p + 4 * (size_t)k, 4); break;
            }
        }
        return;
    }
    pw_layout l = pw_layout_of(w->kind);
    pw_group g = pw_group_at(w, row / PW_GROUP_ROWS);
    int r = row % PW_GROUP_ROWS;
    for (int b = 0; b < w->cols / PW_BLOCK; b++) {
        const uint8_t *tile = g.codes + (size_t)b * l.code_bytes, *plane = g.planes + (size_t)b * l.planes * 64;
        for (int c = 0; c < 32; c++) {
            int j = c / 4, at = 4 * r + c % 4, q;
            if (l.code_bytes == 512) {
                q = tile[64 * j + at];
            } else {
                uint8_t byte = tile[64 * (j & 3) + at];
                q = j < 4 ? byte & 15 : byte >> 4;
                for (int p = 0; p < l.planes; p++) q |= ((plane[64 * p + at] >> j) & 1) << (4 + p);
            }
            float d = pw_half_to_float(g.d[(size_t)b * l.scales + (l.scales == 32 && c >= 16 ? 16 : 0) + r]);
            out[b * 32 + c] = l.has_min ? d * (float)q + pw_half_to_float(g.m[(size_t)b * 16 + r]) : d * (float)(q - l.zero);
        }
    }
}

pw_qact *pw_qact_create(int capacity) {
    pw_qact *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    size_t n = (size_t)(capacity > 32 ? capacity : 32);
    a->q = aligned_alloc(64, (n + 63) / 64 * 64);
    a->d = aligned_alloc(64, ((n / 32) * 4 + 63) / 64 * 64);
    a->s = aligned_alloc(64, ((n / 16) * 4 + 63) / 64 * 64);
    if (!a->q || !a->d || !a->s) { pw_qact_destroy(a); return NULL; }
    a->capacity = (int)n;
    return a;
}

void pw_qact_destroy(pw_qact *a) {
    if (!a) return;
    free(a->q);
    free(a->d);
    free(a->s);
    free(a);
}

void pw_quantize_rows(const float *x, int ldx, int row_begin, int row_end, pw_qact *a) {
    pw_isa isa = pw_isa_active();
    int cols = a->cols;
    for (int r = row_begin; r < row_end; r++) {
        int8_t *q = a->q + (size_t)r * cols;
        float *d = a->d + (size_t)r * (cols / 32);
        int32_t *s = a->s + (size_t)r * (cols / 16);
        const float *row = x + (size_t)r * ldx;
        switch (isa) {
        case PW_ISA_AVX512VNNI: pw_quantize_row_avx512(row, cols, q, d, s); break;
        case PW_ISA_AVX2: case PW_ISA_AVXVNNI: pw_quantize_row_avx2(row, cols, q, d, s); break;
        default: pw_quantize_row_scalar(row, cols, q, d, s); break;
        }
    }
}

void pw_matmul(const pw_matrix *w, const float *x, int ldx, const pw_qact *act, int rows, float *y, int ldy,
               int group_begin, int group_end, int accumulate) {
    pw_isa isa = pw_isa_active();
    if (pw_kind_is_dense(w->kind)) {
        switch (isa) {
        case PW_ISA_AVX512VNNI: pw_matmul_dense_avx512(w, x, ldx, rows, y, ldy, group_begin, group_end, accumulate); break;
        case PW_ISA_AVX2: case PW_ISA_AVXVNNI: pw_matmul_dense_avx2(w, x, ldx, rows, y, ldy, group_begin, group_end, accumulate); break;
        default: pw_matmul_dense_scalar(w, x, ldx, rows, y, ldy, group_begin, group_end, accumulate); break;
        }
        return;
    }
    switch (isa) {
    case PW_ISA_AVX512VNNI: pw_matmul_q_avx512(w, act, rows, y, ldy, group_begin, group_end, accumulate); break;
    case PW_ISA_AVXVNNI: pw_matmul_q_avxvnni(w, act, rows, y, ldy, group_begin, group_end, accumulate); break;
    case PW_ISA_AVX2: pw_matmul_q_avx2(w, act, rows, y, ldy, group_begin, group_end, accumulate); break;
    default: pw_matmul_q_scalar(w, act, rows, y, ldy, group_begin, group_end, accumulate); break;
    }
}
