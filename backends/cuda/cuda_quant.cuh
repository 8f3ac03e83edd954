// Device-side decoding of ggml's blocks, straight from their stored bytes (layouts in
// src/tensor/blocks.h; values as the reference dequantizers in src/tensor/quant_*.cpp).
//
// The unit of work is 32 consecutive elements of a row ("unit" u = elements 32u..32u+31):
// a whole block of the 32-element formats, one eighth of a K-quant super-block, or 32
// plain floats. deq32<T>(row, u, y) writes the unit's 32 values to y (registers when
// inlined with a constant-indexed array).
#pragma once

#include "cuda/cuda_common.cuh"
#include "cuda/cuda_planar.cuh"

#include "tensor/dtype.h"

namespace corvid::cuda {

static __constant__ int8_t kIQ4NL[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

template <DType T> struct QTraits;
template <> struct QTraits<DType::F32> { static constexpr int qk = 1, bytes = 4; };
template <> struct QTraits<DType::F16> { static constexpr int qk = 1, bytes = 2; };
template <> struct QTraits<DType::BF16> { static constexpr int qk = 1, bytes = 2; };
template <> struct QTraits<DType::Q4_0> { static constexpr int qk = 32, bytes = 18; };
template <> struct QTraits<DType::Q4_1> { static constexpr int qk = 32, bytes = 20; };
template <> struct QTraits<DType::Q5_0> { static constexpr int qk = 32, bytes = 22; };
template <> struct QTraits<DType::Q5_1> { static constexpr int qk = 32, bytes = 24; };
template <> struct QTraits<DType::Q8_0> { static constexpr int qk = 32, bytes = 34; };
template <> struct QTraits<DType::IQ4_NL> { static constexpr int qk = 32, bytes = 18; };
template <> struct QTraits<DType::Q2_K> { static constexpr int qk = 256, bytes = 84; };
template <> struct QTraits<DType::Q3_K> { static constexpr int qk = 256, bytes = 110; };
template <> struct QTraits<DType::Q4_K> { static constexpr int qk = 256, bytes = 144; };
template <> struct QTraits<DType::Q5_K> { static constexpr int qk = 256, bytes = 176; };
template <> struct QTraits<DType::Q6_K> { static constexpr int qk = 256, bytes = 210; };
template <> struct QTraits<DType::IQ4_XS> { static constexpr int qk = 256, bytes = 136; };

// Activation partner family: legacy types pair with per-32 Q8_0 activations, K-quants
// with per-256 Q8_K, float types with rounded floats.
enum class Partner { f32, f16, bf16, q8_0, q8_k };
template <DType T> constexpr Partner partner_of() {
    if constexpr (T == DType::F32) return Partner::f32;
    else if constexpr (T == DType::F16) return Partner::f16;
    else if constexpr (T == DType::BF16) return Partner::bf16;
    else if constexpr (QTraits<T>::qk == 32) return Partner::q8_0;
    else return Partner::q8_k;
}

// Pointer to the start of unit u of a row for 32- and 256-element blocks.
template <DType T> __device__ __forceinline__ const uint8_t *unit_block(const uint8_t *row, int64_t u) {
    return row + (u * 32 / QTraits<T>::qk) * QTraits<T>::bytes;
}

template <DType T> __device__ __forceinline__ void deq32(const uint8_t *row, int64_t u, float *y);

template <> __device__ __forceinline__ void deq32<DType::F32>(const uint8_t *row, int64_t u, float *y) {
    const float4 *p = reinterpret_cast<const float4 *>(row + u * 128);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const float4 v = p[i];
        y[4 * i] = v.x, y[4 * i + 1] = v.y, y[4 * i + 2] = v.z, y[4 * i + 3] = v.w;
    }
}
template <> __device__ __forceinline__ void deq32<DType::F16>(const uint8_t *row, int64_t u, float *y) {
    const uint4 *p = reinterpret_cast<const uint4 *>(row + u * 64);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const uint4 v = p[i];
        const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            y[8 * i + 2 * j] = h2f(static_cast<uint16_t>(w[j]));
            y[8 * i + 2 * j + 1] = h2f(static_cast<uint16_t>(w[j] >> 16));
        }
    }
}
template <> __device__ __forceinline__ void deq32<DType::BF16>(const uint8_t *row, int64_t u, float *y) {
    const uint4 *p = reinterpret_cast<const uint4 *>(row + u * 64);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const uint4 v = p[i];
        const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            y[8 * i + 2 * j] = __uint_as_float(w[j] << 16);
            y[8 * i + 2 * j + 1] = __uint_as_float(w[j] & 0xFFFF0000u);
        }
    }
}

// 16 nibble-packed bytes at q (2-byte aligned): element j low nibble, j + 16 high nibble.
template <typename F> __device__ __forceinline__ void nibbles16(const uint8_t *q, F &&f) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const uint16_t v = ld_u16(q + 2 * i);
        f(2 * i, v & 0x0F, (v >> 4) & 0x0F);
        f(2 * i + 1, (v >> 8) & 0x0F, v >> 12);
    }
}

template <> __device__ __forceinline__ void deq32<DType::Q4_0>(const uint8_t *row, int64_t u, float *y) {
    const uint8_t *b = unit_block<DType::Q4_0>(row, u);
    const float d = h2f(ld_u16(b));
    nibbles16(b + 2, [&](int j, int lo, int hi) {
        y[j] = static_cast<float>(lo - 8) * d;
        y[j + 16] = static_cast<float>(hi - 8) * d;
    });
}
template <> __device__ __forceinline__ void deq32<DType::IQ4_NL>(const uint8_t *row, int64_t u, float *y) {
    const uint8_t *b = unit_block<DType::IQ4_NL>(row, u);
    const float d = h2f(ld_u16(b));
    nibbles16(b + 2, [&](int j, int lo, int hi) {
        y[j] = d * static_cast<float>(kIQ4NL[lo]);
        y[j + 16] = d * static_cast<float>(kIQ4NL[hi]);
    });
}
template <> __device__ __forceinline__ void deq32<DType::Q4_1>(const uint8_t *row, int64_t u, float *y) {
    const uint8_t *b = unit_block<DType::Q4_1>(row, u);
    const float d = h2f(ld_u16(b)), m = h2f(ld_u16(b + 2));
    nibbles16(b + 4, [&](int j, int lo, int hi) {
        y[j] = __fadd_rn(__fmul_rn(static_cast<float>(lo), d), m);
        y[j + 16] = __fadd_rn(__fmul_rn(static_cast<float>(hi), d), m);
    });
}
template <> __device__ __forceinline__ void deq32<DType::Q5_0>(const uint8_t *row, int64_t u, float *y) {
    const uint8_t *b = unit_block<DType::Q5_0>(row, u);
    const float d = h2f(ld_u16(b));
    const uint32_t qh = ld_u32_a2(b + 2);
    nibbles16(b + 6, [&](int j, int lo, int hi) {
        const int q0 = lo | static_cast<int>((qh >> j) & 1) << 4;
        const int q1 = hi | static_cast<int>((qh >> (j + 16)) & 1) << 4;
        y[j] = static_cast<float>(q0 - 16) * d;
        y[j + 16] = static_cast<float>(q1 - 16) * d;
    });
}
template <> __device__ __forceinline__ void deq32<DType::Q5_1>(const uint8_t *row, int64_t u, float *y) {
    const uint8_t *b = unit_block<DType::Q5_1>(row, u);
    const float d = h2f(ld_u16(b)), m = h2f(ld_u16(b + 2));
    const uint32_t qh = ld_u32_a2(b + 4);
    nibbles16(b + 8, [&](int j, int lo, int hi) {
        const int q0 = lo | static_cast<int>((qh >> j) & 1) << 4;
        const int q1 = hi | static_cast<int>((qh >> (j + 16)) & 1) << 4;
        y[j] = __fadd_rn(__fmul_rn(static_cast<float>(q0), d), m);
        y[j + 16] = __fadd_rn(__fmul_rn(static_cast<float>(q1), d), m);
    });
}
template <> __device__ __forceinline__ void deq32<DType::Q8_0>(const uint8_t *row, int64_t u, float *y) {
    const uint8_t *b = unit_block<DType::Q8_0>(row, u);
    const float d = h2f(ld_u16(b));
#pragma unroll
    for (int i = 0; i < 16; ++i) {
        const uint16_t v = ld_u16(b + 2 + 2 * i);
        y[2 * i] = static_cast<float>(static_cast<int8_t>(v & 0xFF)) * d;
        y[2 * i + 1] = static_cast<float>(static_cast<int8_t>(v >> 8)) * d;
    }
}

// K-quants: unit i (0..7) of super-block b.
template <> __device__ __forceinline__ void deq32<DType::Q2_K>(const uint8_t *row, int64_t u, float *y) {
    const uint8_t *b = unit_block<DType::Q2_K>(row, u);
    const int i = static_cast<int>(u & 7);
    const float d = h2f(ld_u16(b + 80)), dmin = h2f(ld_u16(b + 82));
    const uint8_t *qs = b + 16 + (i / 4) * 32;
    const int shift = 2 * (i % 4);
#pragma unroll
    for (int s = 0; s < 2; ++s) {
        const uint8_t sc = b[2 * i + s];
        const float dl = __fmul_rn(d, static_cast<float>(sc & 0x0F));
        const float ml = __fmul_rn(dmin, static_cast<float>(sc >> 4));
#pragma unroll
        for (int l = 0; l < 16; l += 2) {
            const uint16_t v = ld_u16(qs + 16 * s + l);
            y[16 * s + l] = __fsub_rn(__fmul_rn(dl, static_cast<float>(((v & 0xFF) >> shift) & 3)), ml);
            y[16 * s + l + 1] = __fsub_rn(__fmul_rn(dl, static_cast<float>(((v >> 8) >> shift) & 3)), ml);
        }
    }
}
__device__ __forceinline__ int q3_scale(const uint8_t *sc, int j) {
    const int low = j < 8 ? (sc[j] & 0x0F) : (sc[j - 8] >> 4);
    const int high = (sc[8 + j % 4] >> (2 * (j / 4))) & 3;
    return low | high << 4;
}
template <> __device__ __forceinline__ void deq32<DType::Q3_K>(const uint8_t *row, int64_t u, float *y) {
    const uint8_t *b = unit_block<DType::Q3_K>(row, u);
    const int i = static_cast<int>(u & 7);
    const float d_all = h2f(ld_u16(b + 108));
    const uint8_t *hm = b, *qs = b + 32 + (i / 4) * 32, *sc = b + 96;
    const int shift = 2 * (i % 4);
#pragma unroll
    for (int s = 0; s < 2; ++s) {
        const float dl = d_all * static_cast<float>(q3_scale(sc, 2 * i + s) - 32);
#pragma unroll
        for (int l = 0; l < 16; l += 2) {
            const uint16_t q = ld_u16(qs + 16 * s + l), h = ld_u16(hm + 16 * s + l);
#pragma unroll
            for (int k = 0; k < 2; ++k) {
                const int q2 = ((q >> (8 * k)) >> shift) & 3;
                const int hi = ((h >> (8 * k)) >> i) & 1;
                y[16 * s + l + k] = dl * static_cast<float>(q2 - (hi ? 0 : 4));
            }
        }
    }
}
// Sub-block j's 6-bit scale and minimum from the 12 packed scale bytes of a Q4_K / Q5_K
// super-block, byte k read as q(k): from memory, or from registers (the matvec's loaded
// metadata), where an array index would send the bytes to local memory.
template <typename Bytes> __device__ __forceinline__ void k4_scale_min_of(Bytes q, int j, int &sc, int &mn) {
    if (j < 4) {
        sc = q(j) & 63;
        mn = q(j + 4) & 63;
    } else {
        sc = (q(j + 4) & 0x0F) | (q(j - 4) >> 6) << 4;
        mn = (q(j + 4) >> 4) | (q(j) >> 6) << 4;
    }
}
__device__ __forceinline__ void k4_scale_min(const uint8_t *q, int j, int &sc, int &mn) {
    k4_scale_min_of([q](int k) { return static_cast<int>(q[k]); }, j, sc, mn);
}
template <> __device__ __forceinline__ void deq32<DType::Q4_K>(const uint8_t *row, int64_t u, float *y) {
    const uint8_t *b = unit_block<DType::Q4_K>(row, u);
    const int i = static_cast<int>(u & 7);
    const float d = h2f(ld_u16(b)), dmin = h2f(ld_u16(b + 2));
    int sc, mn;
    k4_scale_min(b + 4, i, sc, mn);
    const float dl = __fmul_rn(d, static_cast<float>(sc)), ml = __fmul_rn(dmin, static_cast<float>(mn));
    const uint8_t *qs = b + 16 + 32 * (i / 2);
    const int shift = 4 * (i % 2);
#pragma unroll
    for (int l = 0; l < 32; l += 2) {
        const uint16_t v = ld_u16(qs + l);
        y[l] = __fsub_rn(__fmul_rn(dl, static_cast<float>(((v & 0xFF) >> shift) & 0x0F)), ml);
        y[l + 1] = __fsub_rn(__fmul_rn(dl, static_cast<float>(((v >> 8) >> shift) & 0x0F)), ml);
    }
}
template <> __device__ __forceinline__ void deq32<DType::Q5_K>(const uint8_t *row, int64_t u, float *y) {
    const uint8_t *b = unit_block<DType::Q5_K>(row, u);
    const int i = static_cast<int>(u & 7);
    const float d = h2f(ld_u16(b)), dmin = h2f(ld_u16(b + 2));
    int sc, mn;
    k4_scale_min(b + 4, i, sc, mn);
    const float dl = __fmul_rn(d, static_cast<float>(sc)), ml = __fmul_rn(dmin, static_cast<float>(mn));
    const uint8_t *qh = b + 16, *qs = b + 48 + 32 * (i / 2);
    const int shift = 4 * (i % 2);
#pragma unroll
    for (int l = 0; l < 32; l += 2) {
        const uint16_t v = ld_u16(qs + l), h = ld_u16(qh + l);
#pragma unroll
        for (int k = 0; k < 2; ++k) {
            const int q = (((v >> (8 * k)) >> shift) & 0x0F) + 16 * (((h >> (8 * k)) >> i) & 1);
            y[l + k] = __fsub_rn(__fmul_rn(dl, static_cast<float>(q)), ml);
        }
    }
}
template <> __device__ __forceinline__ void deq32<DType::Q6_K>(const uint8_t *row, int64_t u, float *y) {
    const uint8_t *b = unit_block<DType::Q6_K>(row, u);
    const int i = static_cast<int>(u & 7);
    const int h = i / 4, k = i % 4;
    const float d = h2f(ld_u16(b + 208));
    const uint8_t *ql = b + 64 * h + (k & 1) * 32, *qh = b + 128 + 32 * h;
    const int8_t *scales = reinterpret_cast<const int8_t *>(b + 192);
    const int lshift = k < 2 ? 0 : 4;
#pragma unroll
    for (int s = 0; s < 2; ++s) {
        const float ds = d * static_cast<float>(scales[2 * i + s]);
#pragma unroll
        for (int l = 0; l < 16; l += 2) {
            const uint16_t lo = ld_u16(ql + 16 * s + l), hi = ld_u16(qh + 16 * s + l);
#pragma unroll
            for (int t = 0; t < 2; ++t) {
                const int q = ((((lo >> (8 * t)) & 0xFF) >> lshift) & 0x0F) | ((((hi >> (8 * t)) & 0xFF) >> (2 * k)) & 3) << 4;
                y[16 * s + l + t] = ds * static_cast<float>(q - 32);
            }
        }
    }
}
template <> __device__ __forceinline__ void deq32<DType::IQ4_XS>(const uint8_t *row, int64_t u, float *y) {
    const uint8_t *b = unit_block<DType::IQ4_XS>(row, u);
    const int ib = static_cast<int>(u & 7);
    const float d = h2f(ld_u16(b));
    const int ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 0x0F) | ((ld_u16(b + 2) >> (2 * ib)) & 3) << 4;
    const float dl = d * static_cast<float>(ls - 32);
    nibbles16(b + 8 + 16 * ib, [&](int j, int lo, int hi) {
        y[j] = dl * static_cast<float>(kIQ4NL[lo]);
        y[j + 16] = dl * static_cast<float>(kIQ4NL[hi]);
    });
}

// Calls f.template run<T>() with T the runtime type t (weight types only); false when
// t has no device decoder.
template <typename F> bool dispatch_weight_type(DType t, F &&f) {
    switch (t) {
    case DType::F32: f.template run<DType::F32>(); return true;
    case DType::F16: f.template run<DType::F16>(); return true;
    case DType::BF16: f.template run<DType::BF16>(); return true;
    case DType::Q4_0: f.template run<DType::Q4_0>(); return true;
    case DType::Q4_1: f.template run<DType::Q4_1>(); return true;
    case DType::Q5_0: f.template run<DType::Q5_0>(); return true;
    case DType::Q5_1: f.template run<DType::Q5_1>(); return true;
    case DType::Q8_0: f.template run<DType::Q8_0>(); return true;
    case DType::IQ4_NL: f.template run<DType::IQ4_NL>(); return true;
    case DType::Q2_K: f.template run<DType::Q2_K>(); return true;
    case DType::Q3_K: f.template run<DType::Q3_K>(); return true;
    case DType::Q4_K: f.template run<DType::Q4_K>(); return true;
    case DType::Q5_K: f.template run<DType::Q5_K>(); return true;
    case DType::Q6_K: f.template run<DType::Q6_K>(); return true;
    case DType::IQ4_XS: f.template run<DType::IQ4_XS>(); return true;
    default: return false;
    }
}

// One element of a plain float type (for rows whose length is not a multiple of 32).
template <DType T> __device__ __forceinline__ float load_elem(const uint8_t *row, int64_t i) {
    if constexpr (T == DType::F32) return reinterpret_cast<const float *>(row)[i];
    else if constexpr (T == DType::F16) return h2f(reinterpret_cast<const uint16_t *>(row)[i]);
    else return bf2f(reinterpret_cast<const uint16_t *>(row)[i]);
}

template <DType T> constexpr bool is_float_type() { return T == DType::F32 || T == DType::F16 || T == DType::BF16; }

// ---- planar weights (cuda_planar.cuh) ---------------------------------------------------

// Row `row` of a planar matrix of N rows of `bpr` blocks: where its part of each plane starts.
template <DType T> struct PlanarRow {
    const uint8_t *p[kMaxPlanes] = {};
    PlanarRow() = default;
    __device__ __forceinline__ PlanarRow(const uint8_t *W, int64_t N, int64_t bpr, int64_t row) {
        constexpr PlanarFormat f = planar_format(T);
#pragma unroll
        for (int i = 0; i < kMaxPlanes; ++i)
            p[i] = i < f.n_planes ? W + plane_offset(T, i, N * bpr) + row * bpr * f.bytes[i] : nullptr;
    }
};

__device__ __forceinline__ uint4 ld_u128(const uint8_t *p) { return *reinterpret_cast<const uint4 *>(p); }
__device__ __forceinline__ uint32_t word_of(const uint4 &v, int i) { return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w; }

// deq32 for planar rows: the same values, computed by the same float operations, as deq32
// on the blocks they came from.
template <DType T> __device__ __forceinline__ void deq32_planar(const PlanarRow<T> &r, int64_t u, float *y);

template <> __device__ __forceinline__ void deq32_planar<DType::Q4_0>(const PlanarRow<DType::Q4_0> &r, int64_t u, float *y) {
    const float d = h2f(ld_u16(r.p[1] + 2 * u));
    nibbles16(r.p[0] + 16 * u, [&](int j, int lo, int hi) {
        y[j] = static_cast<float>(lo - 8) * d;
        y[j + 16] = static_cast<float>(hi - 8) * d;
    });
}
template <> __device__ __forceinline__ void deq32_planar<DType::Q8_0>(const PlanarRow<DType::Q8_0> &r, int64_t u, float *y) {
    const uint4 q0 = ld_u128(r.p[0] + 32 * u), q1 = ld_u128(r.p[0] + 32 * u + 16);
    const float d = h2f(ld_u16(r.p[1] + 2 * u));
#pragma unroll
    for (int j = 0; j < 32; ++j) {
        const uint32_t w = word_of(j < 16 ? q0 : q1, (j % 16) / 4);
        y[j] = static_cast<float>(static_cast<int8_t>((w >> (8 * (j % 4))) & 0xFF)) * d;
    }
}
template <> __device__ __forceinline__ void deq32_planar<DType::Q4_K>(const PlanarRow<DType::Q4_K> &r, int64_t u, float *y) {
    const int64_t sb = u >> 3;
    const int i = static_cast<int>(u & 7);
    const uint8_t *meta = r.p[1] + 16 * sb;
    const float d = h2f(ld_u16(meta)), dmin = h2f(ld_u16(meta + 2));
    int sc, mn;
    k4_scale_min(meta + 4, i, sc, mn);
    const float dl = __fmul_rn(d, static_cast<float>(sc)), ml = __fmul_rn(dmin, static_cast<float>(mn));
    nibbles16(r.p[0] + 128 * sb + 16 * i, [&](int j, int lo, int hi) { // Q4_0's nibble order
        y[j] = __fsub_rn(__fmul_rn(dl, static_cast<float>(lo)), ml);
        y[j + 16] = __fsub_rn(__fmul_rn(dl, static_cast<float>(hi)), ml);
    });
}
template <> __device__ __forceinline__ void deq32_planar<DType::Q6_K>(const PlanarRow<DType::Q6_K> &r, int64_t u, float *y) {
    const int64_t sb = u >> 3;
    const int i = static_cast<int>(u & 7);
    const uint4 ql = ld_u128(r.p[0] + 128 * sb + 16 * i);
    const uint2 qh = *reinterpret_cast<const uint2 *>(r.p[1] + 64 * sb + 8 * i);
    const int8_t *scales = reinterpret_cast<const int8_t *>(r.p[2] + 16 * sb + 2 * i);
    const float d = h2f(ld_u16(r.p[3] + 2 * sb));
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const float ds = d * static_cast<float>(scales[h]);
        const uint32_t hw = h == 0 ? qh.x : qh.y;
#pragma unroll
        for (int j = 0; j < 16; ++j) {
            const int lo = ((word_of(ql, j / 4) >> (8 * (j % 4))) >> (4 * h)) & 0x0F;
            const int hi = (hw >> (8 * (j % 4) + 2 * (j / 4))) & 3;
            y[16 * h + j] = ds * static_cast<float>((lo | hi << 4) - 32);
        }
    }
}

// 32 elements of a weight row, from ggml's blocks (layout 0) or planar rows: the dequantize
// and row-lookup kernels read every weight through this. W, N, nb1: the matrix (for planar,
// the whole 2-D matrix that W starts).
template <DType T>
__device__ __forceinline__ void deq32_row(const uint8_t *W, int64_t nb1, int64_t N, bool planar, int64_t row, int64_t u,
                                          float *y) {
    if constexpr (planar_format(T).n_planes > 0) {
        if (planar) {
            const int64_t bpr = nb1 / QTraits<T>::bytes;
            deq32_planar<T>(PlanarRow<T>(W, N, bpr, row), u, y);
            return;
        }
    }
    deq32<T>(W + row * nb1, u, y);
}

} // namespace corvid::cuda
