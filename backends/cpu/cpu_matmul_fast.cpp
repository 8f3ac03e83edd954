// The fast matrix product's driver (compiled for baseline x86-64: no -m flags here) and
// the run-time choice of instruction set (cpu_dispatch.h).
//
// mul_mat_fast():
//   1. converts every activation column once to the weight type's partner format with
//      the reference quantizer (quantize_row: the quantized values are exactly the
//      reference kernel's) and unpacks it into an aligned layout (cpu_matmul_fast.h);
//   2a. many columns (prompt processing) and a blocked kernel for the type: the output
//      rows of every batch matrix are cut into panels (and, when there are too few
//      panels for the threads, the columns into ranges); each task repacks its panel of
//      weight rows into per-thread scratch (from a decode panel straight, for weights kept
//      in panels: cpu_panels.h) and runs the register-tiled kernel over its columns; the
//      tasks are split evenly over the threads (cpu_parallel.h);
//   2b. otherwise (decode): the output rows are split into chunks over the threads (whole
//      panels for panel weights); inside a chunk, a panel weight's panels go through the
//      panel kernel column by column, and for other weights each row is dotted with each
//      group of up to 4 columns by one kernel call.
#include "cpu/cpu_dispatch.h"
#include "cpu/cpu_kernels.h"
#include "cpu/cpu_matmul_fast.h"
#include "cpu/cpu_panels.h"
#include "cpu/cpu_parallel.h"

#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/quants.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define CORVID_X86 1
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#define CORVID_ARM64_LINUX 1
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20) // the kernel's bit for SDOT/UDOT (older glibc headers lack the name)
#endif
#endif

namespace corvid::cpu {

namespace {
// Weight rows per call of the decode row kernel (Kernels::dot_rows): the kernel table's
// choice per weight type (Kernels::dot_rows_per_call), unless CORVID_CPU_DECODE_ROWS=1..4 or
// set_decode_rows() says otherwise. Several rows per call share each activation load and
// conversion, but are then interleaved streams per thread, each a few KiB long, which the
// hardware prefetchers follow worse than one sequential stream. Which wins depends on how
// much compute a row costs: with the decode kernels of early December, one row won
// everywhere on a 44 GB/s AVX-512 VM (1B tg32, one row against four: 61-63 / 53-56 tokens/s
// at Q4_0, 68 / 56-61 at Q4_K_M, 36-43 / 33-35 at Q8_0, 24-27 / 20-22 at F16); with the
// later, cheaper quantized kernels, four rows win on a ~30 GB/s one (2 threads: Q4_0
// 39.9-40.6 / 38.7-38.9, Q4_K_M 39.1-39.3 / 36.5-36.8, Q8_0 23.6-24.1 / 22.6-22.9; F16
// 11.5-12.4 / 11.7-12.6, so F16 keeps one).
std::atomic<int> g_decode_rows{0}; // 0: CORVID_CPU_DECODE_ROWS or the table's choice

int64_t decode_rows(const fast::Kernels &k, DType w) {
    static const int from_env = [] {
        const char *e = std::getenv("CORVID_CPU_DECODE_ROWS");
        const int v = e ? std::atoi(e) : 0;
        return v >= 1 && v <= fast::kRowsPerCall ? v : 0;
    }();
    const int forced = g_decode_rows.load(std::memory_order_relaxed);
    if (forced) return forced;
    if (from_env) return from_env;
    const int t = k.dot_rows_per_call[static_cast<int>(w)];
    return t >= 1 && t <= fast::kRowsPerCall ? t : 1;
}
} // namespace

void set_decode_rows(int rows) { g_decode_rows.store(rows >= 1 && rows <= fast::kRowsPerCall ? rows : 0); }
namespace {

// ---- instruction-set detection ---------------------------------------------------

#ifdef CORVID_X86
uint64_t read_xcr0() {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t(hi) << 32) | lo;
}
#endif

struct CpuFeatures {
    bool avx2 = false;   // AVX2 + FMA + F16C, with the OS saving ymm state
    bool avx512 = false; // AVX-512 F/BW/VL/DQ + VNNI, with the OS saving zmm state
    bool amx = false;    // + AMX-TILE and AMX-INT8, with the tile state granted to this process
    bool neon_dot = false; // ARM64 Advanced SIMD with the Armv8.2 dot-product instructions
};

#if defined(CORVID_X86) && defined(__linux__)
// Linux enables the 8 KiB tile state per process on request (arch_prctl
// ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA); without it the first tile instruction
// faults. Granted once for the whole process; later requests are no-ops.
bool request_amx_state() {
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}
#elif defined(CORVID_X86) // (elsewhere nothing asks: an unused function would warn)
bool request_amx_state() { return false; }
#endif

CpuFeatures probe_cpu() {
    CpuFeatures f;
#ifdef CORVID_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
    if (!osxsave || !avx) return f;
    const uint64_t xcr0 = read_xcr0();
    const bool ymm_state = (xcr0 & 0x6) == 0x6, zmm_state = (xcr0 & 0xE6) == 0xE6;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
    const bool avx2 = b & (1u << 5), avx512f = b & (1u << 16), avx512dq = b & (1u << 17),
               avx512bw = b & (1u << 30), avx512vl = b & (1u << 31), vnni = c & (1u << 11);
    f.avx2 = ymm_state && avx2 && fma && f16c;
    f.avx512 = f.avx2 && zmm_state && avx512f && avx512dq && avx512bw && avx512vl && vnni;
    const bool amx_tile = d & (1u << 24), amx_int8 = d & (1u << 25);
    const bool tile_state = (xcr0 & 0x60000) == 0x60000; // XTILECFG + XTILEDATA
    f.amx = f.avx512 && amx_tile && amx_int8 && tile_state && request_amx_state();
#endif
#ifdef CORVID_ARM64_LINUX
    // NEON itself is part of every ARM64 core; the dot products are optional before
    // Armv8.4, and only the kernel can say whether this core has them (the ID
    // registers are not readable from user space everywhere).
    f.neon_dot = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
    return f;
}

const fast::Kernels *kernels_for(Isa isa) {
    switch (isa) {
    case Isa::avx2: return fast::kernels_avx2();
    case Isa::avx512: return fast::kernels_avx512();
    case Isa::amx: return fast::kernels_amx();
    case Isa::neon: return fast::kernels_neon();
    default: return nullptr;
    }
}

Isa env_or_detected() {
    const Isa best = default_isa();
    if (const char *e = std::getenv("CORVID_CPU_ISA")) {
        const std::string s(e);
        Isa want = best;
        if (s == "scalar" || s == "reference") want = Isa::scalar;
        else if (s == "avx2") want = Isa::avx2;
        else if (s == "avx512") want = Isa::avx512;
        else if (s == "amx") want = Isa::amx;
        else if (s == "neon") want = Isa::neon;
        if (isa_available(want)) return want;
    }
    return best;
}

std::atomic<int> g_isa{-1};

// ---- activation conversion -----------------------------------------------------------

constexpr size_t round64(size_t n) { return (n + 63) & ~size_t(63); }

struct ActLayout {
    size_t qs = 0, d = 0, s = 0, bs = 0, qt = 0, stride = 0; // byte offsets within a column
};

ActLayout layout_for(DType at, int64_t K, bool with_qt) {
    ActLayout l;
    const size_t k = static_cast<size_t>(K);
    switch (at) {
    case DType::Q8_0:
    case DType::Q8_1:
        l.d = round64(k);
        l.s = l.d + round64(4 * (k / kQK32));
        l.stride = l.s + round64(4 * (k / kQK32));
        if (with_qt) { // one record per group of kQtBlocks blocks, a partial last one included
            const size_t groups = (k / kQK32 + fast::kQtBlocks - 1) / fast::kQtBlocks;
            l.qt = l.stride, l.stride += round64(groups * fast::kQtGroupBytes);
        }
        break;
    case DType::Q8_K:
        l.d = round64(k);
        l.bs = l.d + round64(4 * (k / kQK_K));
        l.stride = l.bs + round64(2 * (k / 16));
        break;
    case DType::F16:
    case DType::BF16: l.stride = round64(2 * k); break;
    default: l.stride = 0; break; // F32: the columns are used in place
    }
    return l;
}

// Quantizes one column with the reference quantizer into `tmp`, then unpacks it.
// Q8_0 / Q8_K columns go through the ISA's own quantizer where it has one (group_act: the same
// bytes as the reference quantizer, several times faster), into `group` (one group's
// bytes for K), then into the layout above.
void convert_column(const fast::Kernels &kern, DType at, const float *src, int64_t K, uint8_t *tmp, uint8_t *group,
                    uint8_t *col, const ActLayout &l) {
    if (at == DType::F16 || at == DType::BF16) {
        if (at == DType::F16 && kern.to_f16) kern.to_f16(src, reinterpret_cast<uint16_t *>(col), K);
        else quantize_row(at, src, col, K);
        return;
    }
    const uint8_t *grouped = nullptr;
    if ((at == DType::Q8_0 || at == DType::Q8_K) && kern.group_act && group &&
        kern.group_act(static_cast<int>(at), src, K, group, 0, 1))
        grouped = group;
    else
        quantize_row(at, src, tmp, K);
    int8_t *qs = reinterpret_cast<int8_t *>(col + l.qs);
    float *d = reinterpret_cast<float *>(col + l.d);
    if (at == DType::Q8_K && grouped) { // column 0 of a group: levels, d, sums per 16
        int16_t *bs = reinterpret_cast<int16_t *>(col + l.bs);
        for (int64_t b = 0; b < K / kQK_K; ++b) {
            const uint8_t *rec = grouped + b * fast::kActQ8KBytes;
            std::memcpy(qs + b * kQK_K, rec, kQK_K);
            std::memcpy(d + b, rec + fast::kActQ8KD, 4);
            std::memcpy(bs + b * 16, rec + fast::kActQ8KBs, 32);
        }
        return;
    }
    if (at == DType::Q8_K) {
        int16_t *bs = reinterpret_cast<int16_t *>(col + l.bs);
        for (int64_t b = 0; b < K / kQK_K; ++b) {
            BlockQ8_K blk;
            std::memcpy(&blk, tmp + b * sizeof(BlockQ8_K), sizeof blk);
            d[b] = blk.d;
            std::memcpy(qs + b * kQK_K, blk.qs, kQK_K);
            std::memcpy(bs + b * 16, blk.bsums, sizeof blk.bsums);
        }
        return;
    }
    // Q8_0 and Q8_1 share the first fields' meaning; Q8_1's s (rounded d * sum) is
    // not used: the kernels compute with d and sum(q), as the reference dequantizes.
    int32_t *s = reinterpret_cast<int32_t *>(col + l.s);
    if (grouped) {
        // The ISA's quantizer (bit-exact with the reference, tested) wrote column 0 of a
        // group with offset 1: the block's levels, its fp16 scale widened, -sum(levels).
        for (int64_t b = 0; b < K / kQK32; ++b) {
            const uint8_t *rec = grouped + b * fast::kActB32Bytes;
            std::memcpy(qs + b * kQK32, rec, kQK32);
            std::memcpy(d + b, rec + fast::kActB32D, 4);
            int32_t soff;
            std::memcpy(&soff, rec + fast::kActB32Soff, 4);
            s[b] = -soff;
        }
    } else {
        const size_t bsize = at == DType::Q8_0 ? sizeof(BlockQ8_0) : sizeof(BlockQ8_1);
        const size_t qoff = at == DType::Q8_0 ? offsetof(BlockQ8_0, qs) : offsetof(BlockQ8_1, qs);
        for (int64_t b = 0; b < K / kQK32; ++b) {
            const uint8_t *blk = tmp + b * bsize;
            uint16_t dh;
            std::memcpy(&dh, blk, 2);
            d[b] = fp16_to_fp32(dh);
            std::memcpy(qs + b * kQK32, blk + qoff, kQK32);
            int sum = 0;
            for (int j = 0; j < kQK32; ++j) sum += qs[b * kQK32 + j];
            s[b] = sum;
        }
    }
    // The levels again, four blocks per register, with scales and offsets per lane
    // (fast::ActCol::qt), where asked.
    if (!l.qt) return;
    uint8_t *qt = col + l.qt;
    // (A partial last group gets its whole quads of 4 blocks.)
    for (int64_t g = 0; g + 4 <= K / kQK32; g += fast::kQtBlocks) {
        uint8_t *grp = qt + (g / fast::kQtBlocks) * fast::kQtGroupBytes;
        const int nblk = static_cast<int>(std::min<int64_t>(fast::kQtBlocks, (K / kQK32 - g) / 4 * 4));
        for (int b = 0; b < nblk; ++b) {
            const int8_t *x = qs + (g + b) * kQK32;
            const int j = b / 4, lane = b % 4;
            std::memcpy(grp + 64 * j + 16 * lane, x, 16);
            std::memcpy(grp + 256 + 64 * j + 16 * lane, x + 16, 16);
            for (int i = 0; i < 4; ++i) {
                const int idx = 16 * j + 4 * lane + i;
                int32_t sum = 0;
                for (int e = 0; e < 4; ++e) sum += x[4 * i + e] + x[16 + 4 * i + e];
                const int32_t neg = -8 * sum;
                std::memcpy(grp + fast::kQtS + 4 * idx, &neg, 4);
            }
        }
    }
}

// Bytes of one column group in the blocked kernels' activation layout (cpu_matmul_fast.h);
// 0 where no blocked kernel takes this partner type.
size_t group_bytes(DType at, int64_t K) {
    switch (at) {
    case DType::Q8_0: return static_cast<size_t>(K / kQK32) * fast::kActB32Bytes;
    case DType::Q8_K: return static_cast<size_t>(K / kQK_K) * fast::kActQ8KBytes;
    case DType::F16:
    case DType::BF16: return round64(static_cast<size_t>(K) * fast::kGemmCols * 4);
    default: return 0;
    }
}

// Quantizes one column with the reference quantizer into `tmp`, then writes it as column
// ci of its group in the grouped layout.
void convert_column_grouped(const fast::Kernels &kern, DType at, const float *src, int64_t K, uint8_t *tmp,
                            uint8_t *group, int ci, int offset) {
    if (kern.group_act && kern.group_act(static_cast<int>(at), src, K, group, ci, offset)) return;
    quantize_row(at, src, tmp, K);
    if (at == DType::F16 || at == DType::BF16) {
        const uint16_t *h = reinterpret_cast<const uint16_t *>(tmp);
        float *x = reinterpret_cast<float *>(group);
        for (int64_t k = 0; k < K; ++k)
            x[k * fast::kGemmCols + ci] = at == DType::F16 ? fp16_to_fp32(h[k]) : bf16_to_fp32(h[k]);
        return;
    }
    if (at == DType::Q8_K) {
        for (int64_t b = 0; b < K / kQK_K; ++b) {
            BlockQ8_K blk;
            std::memcpy(&blk, tmp + b * sizeof(BlockQ8_K), sizeof blk);
            uint8_t *rec = group + b * fast::kActQ8KBytes;
            std::memcpy(rec + ci * kQK_K, blk.qs, kQK_K);
            std::memcpy(rec + fast::kActQ8KD + 4 * ci, &blk.d, 4);
            std::memcpy(rec + fast::kActQ8KBs + 32 * ci, blk.bsums, 32);
            int16_t b32[8];
            for (int j = 0; j < 8; ++j) b32[j] = int16_t(blk.bsums[2 * j] + blk.bsums[2 * j + 1]); // |.| <= 32 * 127
            std::memcpy(rec + fast::kActQ8KBs32 + 16 * ci, b32, 16);
        }
        return;
    }
    // Q8_0
    for (int64_t b = 0; b < K / kQK32; ++b) {
        const uint8_t *blk = tmp + b * sizeof(BlockQ8_0);
        uint8_t *rec = group + b * fast::kActB32Bytes;
        uint16_t dh;
        std::memcpy(&dh, blk + offsetof(BlockQ8_0, d), 2);
        const float d = fp16_to_fp32(dh);
        const int8_t *qs = reinterpret_cast<const int8_t *>(blk + offsetof(BlockQ8_0, qs));
        std::memcpy(rec + ci * kQK32, qs, kQK32);
        int sum = 0;
        for (int j = 0; j < kQK32; ++j) sum += qs[j];
        const int32_t soff = -offset * sum;
        std::memcpy(rec + fast::kActB32D + 4 * ci, &d, 4);
        std::memcpy(rec + fast::kActB32Soff + 4 * ci, &soff, 4);
    }
}

struct AlignedBuffer {
    std::vector<uint8_t> bytes;
    uint8_t *get(size_t n) {
        if (bytes.size() < n + 64) bytes.resize(n + 64);
        uint8_t *p = bytes.data();
        return p + (64 - reinterpret_cast<uintptr_t>(p) % 64) % 64;
    }
};

} // namespace

// ---- cpu_dispatch.h ----------------------------------------------------------------------

const char *isa_name(Isa isa) {
    switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    case Isa::amx: return "amx";
    case Isa::neon: return "neon";
    }
    return "?";
}

Isa detected_isa() {
    static const CpuFeatures f = probe_cpu();
    if (f.amx && fast::kernels_amx()) return Isa::amx;
    if (f.avx512 && fast::kernels_avx512()) return Isa::avx512;
    if (f.avx2 && fast::kernels_avx2()) return Isa::avx2;
    if (f.neon_dot && fast::kernels_neon()) return Isa::neon;
    return Isa::scalar;
}

Isa default_isa() {
    const Isa best = detected_isa();
    return best == Isa::amx ? Isa::avx512 : best; // (cpu_dispatch.h says why)
}

bool isa_available(Isa isa) {
    const Isa best = detected_isa();
    switch (isa) {
    case Isa::scalar: return true;
    case Isa::neon: return best == Isa::neon;
    default:
        // The x86 paths: each one's processor requirements include those of the paths
        // before it in the enum, so everything up to the detected one can run.
        return best != Isa::scalar && best != Isa::neon && static_cast<int>(isa) <= static_cast<int>(best);
    }
}

Isa active_isa() {
    int v = g_isa.load(std::memory_order_relaxed);
    if (v < 0) {
        v = static_cast<int>(env_or_detected());
        g_isa.store(v, std::memory_order_relaxed);
    }
    return static_cast<Isa>(v);
}

bool force_isa(Isa isa) {
    if (!isa_available(isa)) return false;
    g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
    return true;
}

void reset_isa() { g_isa.store(static_cast<int>(env_or_detected()), std::memory_order_relaxed); }

bool mul_mat_has_fast_path(DType w, Isa isa) {
    const fast::Kernels *k = kernels_for(isa);
    const int id = static_cast<int>(w);
    return k && id < fast::kTypeSlots && k->dot[id];
}

int32_t preferred_weight_layout(const Tensor &w) {
    static const bool off = [] {
        const char *e = std::getenv("CORVID_CPU_PANELS");
        return e && e[0] == '0';
    }();
    if (off || !panel_type(w.type) || w.ne[1] < kPanelRows || w.ne[2] != 1 || w.ne[3] != 1 || !w.is_contiguous() ||
        w.ne[0] % traits(w.type).block_size != 0)
        return 0;
    const fast::Kernels *k = kernels_for(active_isa());
    return k && k->dot_panel[static_cast<int>(w.type)] ? kLayoutCpuPanels : 0;
}

// ---- the driver -----------------------------------------------------------------------------

namespace {

// Columns from which the blocked kernel is used (below: the per-row dot kernels, which
// need no repacking; decode is M = 1).
constexpr int64_t kGemmMinCols = 4;

// Prefetches the weight rows of the panel a thread packs next, a slice at a time, while
// the current panel computes: packing reads the weights from memory for the first time,
// 16 to 48 rows side by side, which the hardware prefetchers follow poorly.
struct PanelPrefetch {
    const uint8_t *rows[64];
    int nrows = 0, row = 0;
    size_t lines_per_row = 0, line = 0, total = 0;
    void start(const Tensor &w, int64_t n0, int n, int64_t wb2, int64_t wb3, size_t row_bytes) {
        nrows = n;
        for (int r = 0; r < n; ++r) rows[r] = w.row(n0 + r, wb2, wb3);
        lines_per_row = (row_bytes + 63) / 64;
        row = 0, line = 0;
        total = lines_per_row * static_cast<size_t>(n);
    }
    void clear() { nrows = 0, total = 0; }
    // (A row and line cursor: no division per line.)
    void step(size_t lines) {
        for (; lines > 0 && row < nrows; --lines) {
            __builtin_prefetch(rows[row] + 64 * line, 0, 2);
            if (++line == lines_per_row) line = 0, ++row;
        }
    }
};

// The blocked path: tasks (batch matrix, panel of output rows, column range), split in
// contiguous runs over the threads; each thread repacks its panel into its own scratch.
// gact: the grouped activations, ngroups groups of gbytes per batch matrix.
void run_gemm(const fast::GemmKernel &gk, Tensor &dst, const uint8_t *gact, size_t gbytes, int64_t ngroups,
              int64_t r2, int64_t r3) {
    const Tensor &w = *dst.src[0];
    const int64_t K = w.ne[0], N = w.ne[1];
    const int64_t M = dst.ne[1], B2 = dst.ne[2], B3 = dst.ne[3];
    const int64_t npanels = (N + gk.rows - 1) / gk.rows, nbat = B2 * B3;
    const int64_t work = K * N * M * nbat;
    const int nth = worth_threads(work) ? parallel_threads() : 1;
    // Enough tasks to keep every thread busy: column ranges (whole groups) when the
    // panels are few.
    int64_t ncr = 1;
    if (npanels * nbat < 4 * nth) ncr = std::min<int64_t>((4 * nth + npanels * nbat - 1) / (npanels * nbat), ngroups);
    ncr = std::max<int64_t>(ncr, 1);
    const int64_t gpr = (ngroups + ncr - 1) / ncr; // groups per column range
    const int64_t ntasks = nbat * npanels * ncr;
    const size_t pbytes = static_cast<size_t>(gk.panel_bytes(K) + 64) & ~size_t(63);
    const size_t wrow_bytes = *dtype_row_bytes(w.type, static_cast<uint64_t>(K));
    static thread_local AlignedBuffer pbuf;
    uint8_t *scratch = pbuf.get(pbytes * static_cast<size_t>(nth));
    const int64_t ostride = static_cast<int64_t>(dst.nb[1] / sizeof(float));
    parallel_run(work, [&](int ti, int nt) {
        if (nt > nth) { // more threads than scratch slots (cannot happen: same count)
            if (ti >= nth) return;
            nt = nth;
        }
        const int64_t t0 = ntasks * ti / nt, t1 = ntasks * (ti + 1) / nt;
        uint8_t *panel = scratch + pbytes * static_cast<size_t>(ti);
        // Rows of panel weights unpacked for the packer (cpu_panels.h); unused otherwise.
        static thread_local AlignedBuffer rowbuf;
        uint8_t *unpacked = w.layout ? rowbuf.get(wrow_bytes * static_cast<size_t>(gk.rows)) : nullptr;
        int64_t packed = -1; // the (weight matrix, panel) now in `panel`
        PanelPrefetch pf;
        struct Task {
            int64_t key, p, bat, b2, b3, wb2, wb3, n0, g0, m0, m1;
            int nrows;
        };
        auto task = [&](int64_t t) {
            Task k;
            const int64_t crange = t % ncr, pb = t / ncr;
            k.p = pb % npanels, k.bat = pb / npanels;
            k.b2 = k.bat % B2, k.b3 = k.bat / B2;
            k.n0 = k.p * gk.rows;
            k.nrows = static_cast<int>(std::min<int64_t>(gk.rows, N - k.n0));
            k.wb2 = k.b2 / r2, k.wb3 = k.b3 / r3;
            k.key = (k.wb3 * w.ne[2] + k.wb2) * npanels + k.p;
            k.g0 = crange * gpr, k.m0 = k.g0 * fast::kGemmCols;
            k.m1 = std::min(M, k.m0 + gpr * fast::kGemmCols);
            return k;
        };
        for (int64_t t = t0; t < t1; ++t) {
            const Task k = task(t);
            if (k.m0 >= k.m1) continue;
            if (k.key != packed) {
                const void *rows[64];
                // A GEMM panel inside one decode panel (16 rows; the AVX2 packers take 8).
                const int64_t in_panel = k.n0 % kPanelRows;
                const bool inside = w.layout == kLayoutCpuPanels && k.nrows == gk.rows && in_panel + gk.rows <= kPanelRows &&
                                    k.n0 + gk.rows <= N / kPanelRows * kPanelRows;
                const bool whole_panel = inside && in_panel == 0 && k.nrows == kPanelRows;
                if (inside && gk.pack_panel) {
                    gk.pack_panel(K, w.row(k.n0 - in_panel), static_cast<int>(in_panel), panel);
                } else if (whole_panel) {
                    unpack_panel(w, k.n0, unpacked); // the packer reads rows as stored
                    for (int r = 0; r < k.nrows; ++r) rows[r] = unpacked + wrow_bytes * static_cast<size_t>(r);
                    gk.pack(K, rows, k.nrows, panel);
                } else {
                    for (int r = 0; r < k.nrows; ++r)
                        rows[r] = weight_row(w, k.n0 + r, k.wb2, k.wb3, unpacked + wrow_bytes * static_cast<size_t>(r));
                    gk.pack(K, rows, k.nrows, panel);
                }
                packed = k.key;
            }
            pf.clear();
            if (t + 1 < t1) {
                const Task nx = task(t + 1);
                if (nx.key != packed) pf.start(w, nx.n0, nx.nrows, nx.wb2, nx.wb3, wrow_bytes);
            }
            // One call per column group (and K chunk, for the K-blocked kernels), with a slice
            // of the next panel's prefetches before each.
            const int64_t ncalls = (k.m1 - k.m0 + fast::kGemmCols - 1) / fast::kGemmCols;
            const bool ranged = gk.gemm_range && gk.kblock > 0 && K > gk.kblock;
            const int64_t nkc = ranged ? (K + gk.kblock - 1) / gk.kblock : 1;
            // The prefetches go out during the last third of the calls only: earlier, the
            // activations streaming through L2 would evict them before the packing.
            const int64_t total_calls = ncalls * nkc, pf_from = total_calls - std::max<int64_t>(1, total_calls / 3);
            const size_t slice = (pf.total + static_cast<size_t>(total_calls - pf_from) - 1) /
                                 static_cast<size_t>(total_calls - pf_from);
            for (int64_t kc = 0; kc < nkc; ++kc) {
                for (int64_t g = 0; g < ncalls; ++g) {
                    if (kc * ncalls + g >= pf_from) pf.step(slice);
                    const int64_t m0 = k.m0 + g * fast::kGemmCols, m1 = std::min(k.m1, m0 + fast::kGemmCols);
                    float *out = reinterpret_cast<float *>(dst.row(m0, k.b2, k.b3)) + k.n0;
                    const uint8_t *acts = gact + static_cast<size_t>(k.bat * ngroups + k.g0 + g) * gbytes;
                    if (ranged)
                        gk.gemm_range(K, kc * gk.kblock, std::min(K, (kc + 1) * gk.kblock), kc > 0, panel, k.nrows, acts,
                                      m1 - m0, out, ostride);
                    else
                        gk.gemm(K, panel, k.nrows, acts, m1 - m0, out, ostride);
                }
            }
        }
    });
}

} // namespace

bool to_f16_fast(const float *src, void *dst, int64_t n) {
    const fast::Kernels *k = kernels_for(active_isa());
    if (!k || !k->to_f16) return false;
    k->to_f16(src, static_cast<uint16_t *>(dst), n);
    return true;
}

bool silu_mul_fast(const float *x, const float *y, float *out, int64_t n) {
    const fast::Kernels *k = kernels_for(active_isa());
    if (!k || !k->silu_mul) return false;
    k->silu_mul(x, y, out, n);
    return true;
}

namespace {
// The partner-format column at col (laid out by lay) as the row kernels read it.
fast::ActCol act_col(const ActLayout &lay, const uint8_t *col) {
    return fast::ActCol{reinterpret_cast<const int8_t *>(col + lay.qs), reinterpret_cast<const float *>(col + lay.d),
                        reinterpret_cast<const int32_t *>(col + lay.s), reinterpret_cast<const int16_t *>(col + lay.bs),
                        col, lay.qt ? reinterpret_cast<const int8_t *>(col + lay.qt) : nullptr};
}

// Output rows a decode task takes: ~32 KiB of weights, at least 4 tasks a thread over `rows`,
// whole calls of the row kernel when it has one, whole panels for panel weights.
int64_t task_rows(size_t wrow_bytes, int64_t rows, int64_t nthreads, bool row_kernel, bool panels) {
    int64_t rc = std::clamp<int64_t>(static_cast<int64_t>(32768 / std::max<size_t>(wrow_bytes, 1)), 4, 64);
    rc = std::max<int64_t>(1, std::min(rc, (rows + 4 * nthreads - 1) / (4 * nthreads)));
    if (row_kernel && rc > fast::kRowsPerCall) rc -= rc % fast::kRowsPerCall;
    if (panels) rc = std::max<int64_t>(kPanelRows, rc - rc % kPanelRows);
    return rc;
}

// Rows [n0, n1) of matrix wb (of weight w) against one column, out[n] for each: a panel
// weight's whole panels by the panel kernel, the rows as stored by the row kernel
// (decode_rows() rows a call) or, without one, the dot kernel. With panels, n0 is a panel's
// first row (task_rows gives whole panels).
void column_rows(const fast::Kernels &kern, const Tensor &w, const uint8_t *wb, int64_t n0, int64_t n1,
                 const fast::ActCol &col, float *out) {
    const int id = static_cast<int>(w.type);
    const int64_t K = w.ne[0];
    const fast::DotFn dot = kern.dot[id];
    int64_t n = n0;
    if (w.layout == kLayoutCpuPanels) {
        const int64_t end = std::min(n1, w.ne[1] / kPanelRows * kPanelRows);
        if (const fast::DotPanelFn panel = kern.dot_panel[id])
            for (; n % kPanelRows == 0 && n + kPanelRows <= end; n += kPanelRows) panel(K, wb + n * w.nb[1], col, out + n);
        // Panels without the panel kernel (an instruction set forced after load): unpacked
        // row by row.
        static thread_local AlignedBuffer rowbuf;
        for (uint8_t *row = n < end ? rowbuf.get(w.row_bytes()) : nullptr; n < end; ++n)
            dot(K, weight_row(w, n, 0, 0, row), &col, 1, out + n);
    }
    if (const fast::DotRowsFn dot_rows = kern.dot_rows[id]) {
        const int64_t per = decode_rows(kern, w.type);
        for (; n < n1; n += per)
            dot_rows(K, wb + n * w.nb[1], w.nb[1], static_cast<int>(std::min<int64_t>(per, n1 - n)), col, out + n);
    } else {
        for (; n < n1; ++n) dot(K, wb + n * w.nb[1], &col, 1, out + n);
    }
}
} // namespace

bool mul_mat_fast(Tensor &dst) {
    const Isa isa = active_isa();
    if (!mul_mat_has_fast_path(dst.src[0]->type, isa)) return false;
    const fast::Kernels *kern = kernels_for(isa);
    const fast::DotFn dot = kern->dot[static_cast<int>(dst.src[0]->type)];
    const fast::DotRowsFn dot_rows = kern->dot_rows[static_cast<int>(dst.src[0]->type)];

    const Tensor &w = *dst.src[0];
    const Tensor &x = *dst.src[1];
    const int64_t K = w.ne[0], N = w.ne[1];
    const int64_t M = x.ne[1], B2 = x.ne[2], B3 = x.ne[3];
    if (x.type != DType::F32 || x.nb[0] != sizeof(float) || dst.nb[0] != sizeof(float)) return false;
    if (K <= 0 || K % traits(w.type).block_size != 0) return false; // the reference reports it
    const DType at = activation_type_for(w.type);
    if (K % traits(at).block_size != 0) return false;
    const int64_t r2 = B2 / w.ne[2], r3 = B3 / w.ne[3];
    const int64_t cols = M * B2 * B3;
    const fast::GemmKernel &gk = kern->gemm[static_cast<int>(w.type)];
    const size_t gbytes = group_bytes(at, K);
    const size_t tmp_bytes = *dtype_row_bytes(at, static_cast<uint64_t>(K));
    const int nth = parallel_threads();
    static thread_local AlignedBuffer tbuf; // per thread: one column in the partner format
    uint8_t *tmps = tbuf.get(tmp_bytes * static_cast<size_t>(std::max(1, nth)));
    static thread_local AlignedBuffer abuf;

    if (gk.rows > 0 && gk.rows <= 64 && gbytes > 0 && M >= kGemmMinCols && dst.nb[1] % sizeof(float) == 0) {
        // 1. Activations, in column groups; a partial last group's missing columns are zeros.
        const int64_t ngroups = (M + fast::kGemmCols - 1) / fast::kGemmCols;
        uint8_t *gact = abuf.get(gbytes * static_cast<size_t>(ngroups * B2 * B3));
        if (M % fast::kGemmCols)
            for (int64_t bat = 0; bat < B2 * B3; ++bat)
                std::memset(gact + static_cast<size_t>(bat * ngroups + ngroups - 1) * gbytes, 0, gbytes);
        parallel_run(K * cols * 8, [&](int ti, int nt) {
            if (ti >= nth) return; // (cannot happen: parallel_run uses parallel_threads())
            nt = std::min(nt, nth);
            uint8_t *tmp = tmps + tmp_bytes * static_cast<size_t>(ti);
            for (int64_t c = cols * ti / nt; c < cols * (ti + 1) / nt; ++c) {
                const int64_t m = c % M, b2 = (c / M) % B2, b3 = c / (M * B2), bat = c / M;
                uint8_t *group = gact + static_cast<size_t>(bat * ngroups + m / fast::kGemmCols) * gbytes;
                convert_column_grouped(*kern, at, reinterpret_cast<const float *>(x.row(m, b2, b3)), K, tmp, group,
                                       static_cast<int>(m % fast::kGemmCols), gk.act_offset);
            }
        });
        // 2. Panels x column groups.
        run_gemm(gk, dst, gact, gbytes, ngroups, r2, r3);
        return true;
    }

    // 1. Activations.
    const ActLayout lay = layout_for(at, K, dot_rows && kern->dot_rows_qt[static_cast<int>(w.type)]);
    // Per thread: one column group for the ISA's activation quantizer (convert_column).
    const size_t gbytes_q8 = (at == DType::Q8_0 || at == DType::Q8_K) && kern->group_act ? group_bytes(at, K) : 0;
    static thread_local AlignedBuffer gbuf;
    uint8_t *gtmp = gbytes_q8 ? gbuf.get(gbytes_q8 * static_cast<size_t>(std::max(1, nth))) : nullptr;
    uint8_t *act = lay.stride ? abuf.get(lay.stride * static_cast<size_t>(cols)) : nullptr;
    std::vector<fast::ActCol> acols(static_cast<size_t>(cols));
    parallel_run(cols > 1 ? K * cols * 8 : 0, [&](int ti, int nt) {
        if (ti >= nth) return; // (cannot happen: parallel_run uses parallel_threads())
        nt = std::min(nt, nth);
        uint8_t *tmp = tmps + tmp_bytes * static_cast<size_t>(ti);
        for (int64_t c = cols * ti / nt; c < cols * (ti + 1) / nt; ++c) {
            const int64_t m = c % M, b2 = (c / M) % B2, b3 = c / (M * B2);
            const float *src = reinterpret_cast<const float *>(x.row(m, b2, b3));
            fast::ActCol &ac = acols[static_cast<size_t>(c)];
            if (lay.stride == 0) {
                ac = fast::ActCol{nullptr, nullptr, nullptr, nullptr, src, nullptr};
                continue;
            }
            uint8_t *col = act + static_cast<size_t>(c) * lay.stride;
            convert_column(*kern, at, src, K, tmp, gtmp ? gtmp + gbytes_q8 * static_cast<size_t>(ti) : nullptr, col, lay);
            ac = act_col(lay, col);
        }
    });

    // 2. Output rows in chunks; tasks = (batch matrix, row chunk).
    const size_t wrow_bytes = *dtype_row_bytes(w.type, static_cast<uint64_t>(K));
    const int64_t work = K * N * cols;
    const int64_t nthreads = worth_threads(work) ? std::max(1, parallel_threads()) : 1;
    const int64_t rc = task_rows(wrow_bytes, N, nthreads, dot_rows != nullptr, w.layout == kLayoutCpuPanels);
    const int64_t nchunks = (N + rc - 1) / rc, ntasks = B2 * B3 * nchunks;
    parallel_for(ntasks, work, [&](int64_t t0, int64_t t1) {
        static thread_local AlignedBuffer rowbuf; // a panel weight's row, unpacked for dot()
        uint8_t *unpacked = w.layout ? rowbuf.get(wrow_bytes) : nullptr;
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t bat = t / nchunks, chunk = t % nchunks;
            const int64_t b2 = bat % B2, b3 = bat / B2;
            const int64_t n0 = chunk * rc, n1 = std::min(N, n0 + rc);
            const fast::ActCol *bcols = acols.data() + bat * M;
            const uint8_t *wb = w.row(0, b2 / r2, b3 / r3);
            float out[fast::kMaxCols];
            for (int64_t m0 = 0; m0 < M; m0 += fast::kMaxCols) {
                const int nc = static_cast<int>(std::min<int64_t>(fast::kMaxCols, M - m0));
                // A single column: the panel or row kernels. A panel weight's other column
                // counts (2-3, or any for a type without a blocked kernel, as Q2_K) go through
                // its panel kernel column by column, while the task's panels stay in cache.
                if (nc == 1 || (w.layout == kLayoutCpuPanels && kern->dot_panel[static_cast<int>(w.type)])) {
                    for (int c = 0; c < nc; ++c)
                        column_rows(*kern, w, wb, n0, n1, bcols[m0 + c], reinterpret_cast<float *>(dst.row(m0 + c, b2, b3)));
                    continue;
                }
                for (int64_t n = n0; n < n1; ++n) {
                    dot(K, weight_row(w, n, b2 / r2, b3 / r3, unpacked), bcols + m0, nc, out);
                    for (int i = 0; i < nc; ++i) reinterpret_cast<float *>(dst.row(m0 + i, b2, b3))[n] = out[i];
                }
            }
        }
    });
    return true;
}

size_t mul_mat_fast_shared_input(Tensor *const *dsts, size_t n) {
    if (n < 2) return 0;
    const Isa isa = active_isa();
    const Tensor &x = *dsts[0]->src[1];
    const DType wt = dsts[0]->src[0]->type;
    const int64_t K = dsts[0]->src[0]->ne[0];
    if (!mul_mat_has_fast_path(wt, isa) || x.type != DType::F32 || x.nb[0] != sizeof(float) || x.ne[1] != 1 ||
        x.ne[2] != 1 || x.ne[3] != 1 || K <= 0 || K % traits(wt).block_size != 0)
        return 0;
    const fast::Kernels *kern = kernels_for(isa);
    const fast::DotRowsFn dot_rows = kern->dot_rows[static_cast<int>(wt)];
    const DType at = activation_type_for(wt);
    if (!dot_rows || K % traits(at).block_size != 0) return 0;
    // The products taken: consecutive, the same input, weight type and K, 2-D.
    size_t m = 0;
    for (; m < n; ++m) {
        const Tensor &d = *dsts[m], &w = *d.src[0];
        if (d.op != Op::mul_mat || d.src[1] != &x || w.type != wt || w.ne[0] != K || w.ne[2] != 1 || w.ne[3] != 1 ||
            d.nb[0] != sizeof(float))
            break;
    }
    if (m < 2) return 0;

    // 1. The column, once (a single column is converted on the calling thread).
    const ActLayout lay = layout_for(at, K, kern->dot_rows_qt[static_cast<int>(wt)]);
    const size_t tmp_bytes = *dtype_row_bytes(at, static_cast<uint64_t>(K));
    const size_t gbytes_q8 = (at == DType::Q8_0 || at == DType::Q8_K) && kern->group_act ? group_bytes(at, K) : 0;
    static thread_local AlignedBuffer tbuf, gbuf, abuf;
    uint8_t *tmp = tbuf.get(tmp_bytes);
    uint8_t *gtmp = gbytes_q8 ? gbuf.get(gbytes_q8) : nullptr;
    fast::ActCol ac{nullptr, nullptr, nullptr, nullptr, x.data, nullptr};
    if (lay.stride != 0) {
        uint8_t *col = abuf.get(lay.stride);
        convert_column(*kern, at, static_cast<const float *>(x.data), K, tmp, gtmp, col, lay);
        ac = act_col(lay, col);
    }

    // 2. Row chunks of every product in one parallel region: one wait for all of them.
    int64_t rows = 0;
    for (size_t i = 0; i < m; ++i) rows += dsts[i]->src[0]->ne[1];
    const int64_t work = K * rows;
    const int64_t nthreads = worth_threads(work) ? std::max(1, parallel_threads()) : 1;
    bool panels = false;
    for (size_t i = 0; i < m; ++i) panels = panels || dsts[i]->src[0]->layout == kLayoutCpuPanels;
    const int64_t rc = task_rows(*dtype_row_bytes(wt, static_cast<uint64_t>(K)), rows, nthreads, true, panels);
    std::vector<int64_t> first_task(m + 1, 0); // tasks of product i: [first_task[i], first_task[i + 1])
    for (size_t i = 0; i < m; ++i) first_task[i + 1] = first_task[i] + (dsts[i]->src[0]->ne[1] + rc - 1) / rc;
    parallel_for(first_task[m], work, [&](int64_t t0, int64_t t1) {
        size_t i = 0;
        for (int64_t t = t0; t < t1; ++t) {
            while (t >= first_task[i + 1]) ++i;
            const Tensor &w = *dsts[i]->src[0];
            const int64_t N = w.ne[1], n0 = (t - first_task[i]) * rc, n1 = std::min(N, n0 + rc);
            column_rows(*kern, w, static_cast<const uint8_t *>(w.data), n0, n1, ac, static_cast<float *>(dsts[i]->data));
        }
    });
    return m;
}

} // namespace corvid::cpu
