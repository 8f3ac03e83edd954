// Internal interface between the fast matrix-product driver (cpu_matmul_fast.cpp) and
// the per-ISA kernel files (cpu_matmul_avx2.cpp, cpu_matmul_avx512.cpp, which both
// include cpu_matmul_x86.inc; cpu_matmul_neon.cpp on ARM64).
//
// The driver converts each activation column once to the weight type's partner format
// with the reference quantizer (so the quantized values are exactly the reference's),
// then unpacks it into the layout below; a kernel dots one weight row with up to
// kMaxCols such columns.
//
// Only plain structs here: the kernel files are compiled with -mavx2/-mavx512*/-march, so
// nothing with external linkage (no inline functions, no templates) may be shared
// with them, or the linker could hand a scalar caller a copy that uses AVX-512.
#pragma once

#include <cstddef>
#include <cstdint>

namespace corvid::cpu::fast {

inline constexpr int kMaxCols = 4;

// One activation column in the partner format.
//   Q8_0 / Q8_1 partners: qs[K] int8, d[K/32] (fp16 scale widened), s[K/32] = sum of qs per block.
//   Q8_K partner:         qs[K] int8, d[K/256], bs[K/16] = sum of qs per 16 (the block's bsums).
//   F32 / F16 / BF16:     f = the row (float, or fp16 / bf16 bits).
//   Q8_0 partner, for the Q4_0 row kernel (dot_rows_qt): qt = each whole group of
//   kQtBlocks (16) blocks (and the whole quads of 4 blocks of a partial last group)
//   rearranged for four blocks per 512-bit register, in
//   kQtGroupBytes: levels [0, 512): register j (64 bytes at 64 j) holds elements 0..15
//   of blocks 4j..4j+3, one block per 128-bit lane, and the register at 256 + 64 j their
//   elements 16..31; int32 at kQtS per 32-bit lane (lane 4l + i of register j = block
//   4j + l): -8 * the sum of the 8 levels that lane's weight bytes meet (Q4_0's offset,
//   so an integer dot started there is exact). The scales d_x are d's.
inline constexpr int kQtBlocks = 16;
inline constexpr int kQtGroupBytes = 768, kQtS = 512;
struct ActCol {
    const int8_t *qs;
    const float *d;
    const int32_t *s;
    const int16_t *bs;
    const void *f;
    const int8_t *qt;
};

// out[c] = dot(weight row w of K elements, column cols[c]) for c < nc (1..kMaxCols).
using DotFn = void (*)(int64_t K, const void *w, const ActCol *cols, int nc, float *out);

// Several weight rows against one column (decode): out[r] = dot(row r, col) for
// r < nrows (1..kRowsPerCall), row r at w + r * row_stride. Sharing the column's loads
// and conversions between rows is what lets a decode step keep up with memory.
inline constexpr int kRowsPerCall = 4;
using DotRowsFn = void (*)(int64_t K, const void *w, size_t row_stride, int nrows, const ActCol &col, float *out);

// One panel of kPanelRows weight rows (cpu_panels.h: the rows interleaved at load) against
// one column (decode): out[r] = dot(row r, col) for r < kPanelRows; panel = its first byte.
inline constexpr int kPanelRows = 16;
using DotPanelFn = void (*)(int64_t K, const void *panel, const ActCol &col, float *out);
// Byte offsets in one panel block (16 rows of one block or super-block; cpu_panels.cpp makes
// them). Q4_0 / Q8_0: the 16 fp16 scales, then quant dword j of the 16 rows at 32 + 64 j.
// Q4_K: d, dmin, the 12 scale bytes as 3 dwords of 16 rows, then qs dword k. Q5_K: the same
// header, qh dword j, then qs dword k. Q6_K: the 16
// signed scales as 4 dwords, d, then for each half h and dword l4 the dwords of ql, ql + 32
// and qh at kQ6Data + 192 (8 h + l4).
inline constexpr int kB32Quants = 32;
inline constexpr int kQ4KD = 0, kQ4KDmin = 32, kQ4KScales = 64, kQ4KQs = 256;
inline constexpr int kQ5KQh = 256, kQ5KQs = 768; // Q5_K: Q4_K's header, qh dword j, qs dword k
inline constexpr int kQ6Scales = 0, kQ6D = 256, kQ6Data = 288;
inline constexpr int kQ2KD = 0, kQ2KDmin = 32, kQ2KScales = 64, kQ2KQs = 320; // Q2_K: d, dmin, scale dwords, qs dwords
inline constexpr int kQ3KD = 0, kQ3KScales = 32, kQ3KHmask = 224, kQ3KQs = 736; // Q3_K: d, scale dwords, hmask, qs
// The 32-element blocks of nibbles (Q4_0, Q5_0, Q4_1, Q5_1): after the 16 d, where the 16 m
// (Q4_1 / Q5_1), the 16 rows' qh dwords (Q5_0 / Q5_1) and the quant dwords start (-1: none),
// and what the levels were raised by (the kernels start each block's sum at -offset sum(x)).
struct Q40Panel { static constexpr int qh = -1, qs = kB32Quants, m = -1, offset = 8; };
struct Q50Panel { static constexpr int qh = 32, qs = 96, m = -1, offset = 16; };
struct Q41Panel { static constexpr int qh = -1, qs = 64, m = 32, offset = 0; };
struct Q51Panel { static constexpr int qh = 64, qs = 128, m = 32, offset = 0; };

// Blocked matrix product (prompt processing: many columns). The weights are repacked,
// a panel of `rows` rows at a time, into a kernel-specific interleaved layout in a
// per-thread scratch buffer of panel_bytes(K) bytes (64-byte aligned); gemm() then
// computes the panel against any number of columns in register tiles, so each weight
// block is decoded once per panel and reused across columns.
//   pack(K, rowptrs, nrows, panel): rowptrs[0..nrows) are the weight rows (nrows <= rows;
//       the missing rows are packed as zeros).
//   gemm(K, panel, nrows, acts, nc, out, ostride): out[c * ostride + r] = row r . column c
//       for r < nrows, c < nc; acts = the columns in the grouped layout below, from the
//       first column's group (the first column is the first of its group).
// The arithmetic is the dot kernels': exact integer block products of the same
// quantized values, scaled per block in float and flushed into double sums.
//
// Grouped activation layout: the columns of a batch matrix in groups of kGemmCols, each
// group one contiguous run (64-byte aligned) of per-block records; a partial last group
// is padded with zero columns.
//   Q8_0 partner, per 32-block (kActB32Bytes): qs[8][32] int8, d[8] float,
//       soff[8] int32 = -act_offset * sum(qs) (the weight levels are stored unsigned,
//       level + act_offset, so that vpdpbusd applies).
//   Q8_K partner, per 256-block (kActQ8KBytes): qs[8][256] int8, d[8] float,
//       bs[8][16] int16 (sums per 16), bs32[8][8] int16 (sums per 32), 32 bytes padding.
//   F16 / BF16 partner, per element (kGemmCols * 4 bytes): the 8 columns' values widened
//       to float; the group's run is rounded up to 64 bytes.
inline constexpr int kGemmCols = 8;
inline constexpr int kActB32Bytes = 320, kActB32D = 256, kActB32Soff = 288;
inline constexpr int kActQ8KBytes = 2496, kActQ8KD = 2048, kActQ8KBs = 2080, kActQ8KBs32 = 2336;

// The blocked kernels' float arithmetic, shared by the x86 forms so that they give the
// same bits (tests/backends/test_conformance.cpp checks AVX2 against AVX-512): the
// 32-element formats flush their float chains into double every kGemmFlushBlocks blocks;
// F16 / BF16 sum chains of kGemmFloatChain elements into a running total in `out`, and
// run in K chunks of kGemmFloatBlock (GemmKernel::kblock, so that a panel chunk stays in
// L2; the sums are the same as in one pass).
inline constexpr int kGemmFlushBlocks = 4;
inline constexpr int64_t kGemmFloatChain = 64, kGemmFloatBlock = 1024;

using PanelBytesFn = uint64_t (*)(int64_t K);
using PackFn = void (*)(int64_t K, const void *const *rows, int nrows, void *panel);
using GemmFn = void (*)(int64_t K, const void *panel, int nrows, const void *acts, int64_t nc, float *out,
                        int64_t ostride);
// Optional K-blocked form (large panels): the products over elements [k0, k1) only,
// added to out (accumulate) or stored; k0 and k1 - k0 multiples of kblock (k1 = K at
// the end). Called chunk by chunk over all column groups, so a panel chunk stays in cache.
using GemmRangeFn = void (*)(int64_t K, int64_t k0, int64_t k1, bool accumulate, const void *panel, int nrows,
                             const void *acts, int64_t nc, float *out, int64_t ostride);
// pack() from a weight kept in decode panels (cpu_panels.h): rows [first_row, first_row +
// GemmKernel::rows) of the decode panel at src (first_row 0, or 8 for 8-row GEMM panels),
// the same panel bytes as pack() of those rows unpacked.
using PackPanelFn = void (*)(int64_t K, const void *src, int first_row, void *panel);
struct GemmKernel {
    int rows; // 0: no blocked kernel for the type
    int act_offset;
    PanelBytesFn panel_bytes;
    PackFn pack;
    GemmFn gemm;
    GemmRangeFn gemm_range; // null: gemm() only
    int64_t kblock;         // chunk length for gemm_range
    PackPanelFn pack_panel = nullptr; // null: panel weights are unpacked into rows for pack()
};

// Quantizes one activation column (K floats) to the partner type with raw DType id
// `at` and writes it as column ci of its group (grouped layout above): the same bytes
// the reference quantizer gives, checked by tests/backends/test_conformance.cpp. False
// (nothing written) for partner types it does not handle.
using GroupActFn = bool (*)(int at, const float *src, int64_t K, uint8_t *group, int ci, int act_offset);

// Indexed by the raw DType id; null where the ISA has no kernel for the type.
inline constexpr int kTypeSlots = 64;
// dst[i] = the fp16 bits of src[i], i < n: bit for bit fp32_to_fp16() (tensor/fp16.h:
// round to nearest even, overflow to infinity, every NaN to sign | 0x7E00).
using ToF16Fn = void (*)(const float *src, uint16_t *dst, int64_t n);

// out[i] = silu(x[i]) * y[i] (y null: silu(x[i])), i < n, within a few ulp of the
// reference's silu(); out may be x or y.
using SiluMulFn = void (*)(const float *x, const float *y, float *out, int64_t n);

struct Kernels {
    DotFn dot[kTypeSlots];
    DotRowsFn dot_rows[kTypeSlots]; // null: dot() row by row
    bool dot_rows_qt[kTypeSlots];   // the row kernel reads ActCol::qt (else it is not made)
    int dot_rows_per_call[kTypeSlots]; // rows per call the decode driver uses (0: 1)
    DotPanelFn dot_panel[kTypeSlots];  // null: the type is not repacked into panels
    GemmKernel gemm[kTypeSlots];
    GroupActFn group_act; // null: the reference quantizer is used
    ToF16Fn to_f16;       // null: the reference conversion is used
    SiluMulFn silu_mul;   // null: the reference silu is used
};

// Fills t.gemm for the AVX2 build (cpu_gemm_avx2.cpp; called by cpu_matmul_avx2.cpp).
void add_gemm_avx2(Kernels &t);

// Fills t.gemm for the AVX-512 build (cpu_gemm_avx512.cpp; called by cpu_matmul_avx512.cpp).
void add_gemm_avx512(Kernels &t);

// Switches the blocked kernels of t (filled by add_gemm_avx512) to AMX int8 tiles for
// the types that have them (same panels and results). Only for a processor with AMX-INT8
// whose OS has granted this process the tile state (cpu_matmul_fast.cpp asks for it).
void add_gemm_amx(Kernels &t);

// Fills t.gemm for the ARM64 NEON build with the dot product (cpu_gemm_neon.cpp; called by
// cpu_matmul_neon.cpp). With i8mm, and where the processor has FEAT_I8MM, the 32-element
// types get the SMMLA kernels (bit-identical results); returns whether they did. Defined
// in every build (false, nothing filled, where the build has no NEON kernels).
bool add_gemm_neon(Kernels &t, bool i8mm);

// Fills t.dot_rows for AVX-512 with VBMI (cpu_gemv_avx512.cpp; nothing where the build has
// no such kernels). The caller checks that the processor has VBMI.
void add_gemv_avx512(Kernels &t);

// Fills t.dot_panel for AVX2 + FMA + F16C (cpu_panel_avx2.cpp; nothing where the build has
// no such kernels).
void add_panel_avx2(Kernels &t);

// Fills t.dot_panel for AVX-512 with VNNI (cpu_panel_avx512.cpp; nothing where the build
// has no such kernels).
void add_panel_avx512(Kernels &t);

// Null when the build has no such kernels (other targets, compilers without the flags).
const Kernels *kernels_avx2();
const Kernels *kernels_avx512();
// ARM64 NEON with the dot-product instructions (cpu_matmul_neon.cpp): per-row dot
// kernels and the blocked kernels of add_gemm_neon (no multi-row kernels yet: dot_rows null).
const Kernels *kernels_neon();
const Kernels *kernels_amx(); // kernels_avx512() with add_gemm_amx


} // namespace corvid::cpu::fast
