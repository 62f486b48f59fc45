// Shared by the kernel files: the tile layout and the per-ISA entry points.
#ifndef PATCHWORK_KERNELS_INTERNAL_H
#define PATCHWORK_KERNELS_INTERNAL_H

#include "patchwork_kernels.h"

/// Rows per tile (one group).
#define PW_GROUP_ROWS 16
/// Columns per block.
#define PW_BLOCK 32

/// How a quantized kind lays out one 16 × 32 tile.
typedef struct {
    /// Bytes of codes per tile: 256 (two 4-bit codes a byte) or 512 (one byte each).
    int code_bytes;
    /// 64-byte planes of high bits per tile: bit 4 (and bit 5) of each code.
    int planes;
    /// f16 scales per tile: 16 (one per row) or 32 (one per row and 16 columns).
    int scales;
    /// Whether a 16-value f16 minimum per tile follows the scales.
    int has_min;
    /// The zero point of kinds without a minimum.
    int zero;
} pw_layout;

/// The layout of a quantized kind (kind < PW_KIND_F16).
static inline pw_layout pw_layout_of(pw_kind kind) {
    switch (kind) {
    case PW_KIND_Q4: return (pw_layout){256, 0, 16, 0, 8};
    case PW_KIND_Q4_MIN: return (pw_layout){256, 0, 16, 1, 0};
    case PW_KIND_Q5: return (pw_layout){256, 1, 16, 0, 16};
    case PW_KIND_Q5_MIN: return (pw_layout){256, 1, 16, 1, 0};
    case PW_KIND_Q6: return (pw_layout){256, 2, 32, 0, 32};
    default: return (pw_layout){512, 0, 16, 0, 128};
    }
}

static inline int pw_kind_is_dense(pw_kind kind) { return kind >= PW_KIND_F16; }

/// One row group's sections.
///
/// Codes: for the 4-bit layouts, 64-byte vector i (0..3) of a tile holds, at byte 4·r + j, the
/// code of row r, column 4i + j in its low nibble and column 16 + 4i + j in its high nibble;
/// for 8-bit codes vector i (0..7) holds column 4i + j at byte 4·r + j. So one 64-byte vector
/// is 16 rows × 4 consecutive columns, what one VNNI instruction multiplies by one broadcast
/// 4-byte group of activations. Planes: bit i of byte 4·r + j is the high bit of column
/// 4i + j. Scales: d[16 · block + r] (for 32 scales: the first 16 columns' then the last
/// 16's); minima likewise.
typedef struct {
    const uint8_t *codes;
    const uint8_t *planes;
    const uint16_t *d;
    const uint16_t *m;
} pw_group;

static inline pw_group pw_group_at(const pw_matrix *w, int g) {
    pw_layout l = pw_layout_of(w->kind);
    int blocks = w->cols / PW_BLOCK;
    const uint8_t *base = w->data + (size_t)g * w->group_bytes;
    pw_group group;
    group.codes = base;
    group.planes = base + (size_t)blocks * l.code_bytes;
    group.d = (const uint16_t *)(group.planes + (size_t)blocks * l.planes * 64);
    group.m = group.d + (size_t)blocks * l.scales;
    return group;
}

static inline float pw_half_to_float(uint16_t bits) {
    _Float16 h;
    __builtin_memcpy(&h, &bits, 2);
    return (float)h;
}

static inline uint16_t pw_float_to_half(float value) {
    _Float16 h = (_Float16)value;
    uint16_t bits;
    __builtin_memcpy(&bits, &h, 2);
    return bits;
}

static inline float pw_bf16_to_float(uint16_t bits) {
    uint32_t u = (uint32_t)bits << 16;
    float f;
    __builtin_memcpy(&f, &u, 4);
    return f;
}

/// Products over row groups [g0, g1) for every activation row, one ISA each.
void pw_matmul_q_scalar(const pw_matrix *w, const pw_qact *act, int rows, float *y, int ldy, int g0, int g1, int accumulate);
void pw_matmul_q_avx2(const pw_matrix *w, const pw_qact *act, int rows, float *y, int ldy, int g0, int g1, int accumulate);
void pw_matmul_q_avxvnni(const pw_matrix *w, const pw_qact *act, int rows, float *y, int ldy, int g0, int g1, int accumulate);
void pw_matmul_q_avx512(const pw_matrix *w, const pw_qact *act, int rows, float *y, int ldy, int g0, int g1, int accumulate);
/// Dense products over output rows [o0, o1).
void pw_matmul_dense_scalar(const pw_matrix *w, const float *x, int ldx, int rows, float *y, int ldy, int o0, int o1, int accumulate);
void pw_matmul_dense_avx2(const pw_matrix *w, const float *x, int ldx, int rows, float *y, int ldy, int o0, int o1, int accumulate);
void pw_matmul_dense_avx512(const pw_matrix *w, const float *x, int ldx, int rows, float *y, int ldy, int o0, int o1, int accumulate);
/// Activation quantization of one row, one ISA each (the same arithmetic: identical results).
void pw_quantize_row_scalar(const float *x, int cols, int8_t *q, float *d, int32_t *s);
void pw_quantize_row_avx2(const float *x, int cols, int8_t *q, float *d, int32_t *s);
void pw_quantize_row_avx512(const float *x, int cols, int8_t *q, float *d, int32_t *s);

#endif
