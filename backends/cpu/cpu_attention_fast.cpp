// The fast attention path's driver (baseline x86-64: no -m flags here): splits the work
// into tasks, prepares the query rows, runs the SIMD kernel of the active instruction
// set (cpu_attention_fast.h) and merges partial softmax states.
//
// Tasks. One task = one KV head x one block of tokens x one range of keys. All query
// heads of the KV head's GQA group and all tokens of the block are the task's rows, so
// each K and V row is read (and converted) once per task and pass. Prompts: blocks of
// tokens, the whole cache per task (the kernels skip tiles the mask hides: the causal
// part, a sliding window); the block is sized so the scores stay in L2. Few tokens
// (decode): the keys are split into fixed ranges of kChunk so that a long cache spreads
// over the threads: every range's score pass runs first (one parallel region), each
// value pass then merges the ranges' (max, sum) for its rows (a second region), and the
// ranges' partial outputs are added in range order (a third). A decode task takes a key
// range for all KV heads, sweeping it in sub-ranges of kSweepKeys (every head in turn)
// with the next sub-range prefetched, so the cache is read front to back. Tasks are claimed from an
// atomic counter (causal prompt blocks differ in cost). The split depends on the shapes
// only, never on the thread count, so the results do not either.
//
// Numerics against the reference (cpu_attention.cpp): the same rounding points (Q to
// F16; probabilities normalised, then rounded to F16 before they weight V, with an F16
// cache); dots and sums in float and in another order (the reference sums in double),
// exp by a float polynomial.
#include "cpu/cpu_attention_fast.h"
#include "cpu/cpu_dispatch.h"
#include "cpu/cpu_kernels.h"
#include "cpu/cpu_parallel.h"


#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

namespace corvid::cpu {
namespace {

constexpr int64_t kChunk = 512;          // keys per task when the queries are few
constexpr int64_t kFewTokens = 4;        // up to this many tokens: split the keys
constexpr int64_t kMaxRows = 256;        // the kernels' limit on rows per task
constexpr int64_t kRowFloats = 4096;     // aim: rows x padded head size per task (16 KiB of Q)
constexpr int64_t kScoreFloats = 1 << 16; // aim: rows x keys per task (256 KiB of scores)
// Decode: keys per sub-range swept over all heads (a multiple of every kernel's width).
// Measured on a Zen 4 VM (scripts/cpu_attention_rate.cpp, cold cache, 4096 keys x 8 heads):
// 64 keys 12.3 GB/s, 16 keys 15.3. Reading a window of rows head by head defeats the
// hardware prefetchers (a plain read loop: 33 GB/s front to back, 16-21 in that order), so
// the window is kept small and the next one is requested while this one computes.
constexpr int64_t kSweepKeys = 16;

// Requests [p, p + bytes) into L2 ahead of use (the next sub-range of cache rows). Into L2
// (locality 2): into L1 or the last level was slower (cold 4096 keys: 0.72-0.84 and
// 0.66-0.73 ms a call against 0.54).
void prefetch_span(const uint8_t *p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(p + o, 0, 2);
}

// v's storage, grown to at least n elements (never shrunk: the shapes repeat).
template <class T> T *grown(std::vector<T> &v, size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
}

const attn::Kernels *kernels_for(Isa isa) {
    switch (isa) {
    case Isa::amx: // (AMX changes only the blocked matrix products)
    case Isa::avx512: return attn::kernels_avx512();
    case Isa::avx2: return attn::kernels_avx2();
    case Isa::neon: return attn::kernels_neon();
    default: return nullptr;
    }
}

} // namespace

bool attention_has_fast_path(Isa isa) {
    const attn::Kernels *k = kernels_for(isa);
    return k && k->query_row && k->score_pass && k->sum_pass && k->value_pass;
}

bool attention_fast(Tensor &dst) {
    // CORVID_CPU_ATTENTION=reference in the environment keeps the reference kernel (for
    // comparisons), whatever the instruction set.
    static const bool disabled = [] {
        const char *e = std::getenv("CORVID_CPU_ATTENTION");
        return e && std::strcmp(e, "reference") == 0;
    }();
    if (disabled) return false;
    const attn::Kernels *kern = kernels_for(active_isa());
    if (!kern || !kern->query_row || !kern->score_pass || !kern->sum_pass || !kern->value_pass) return false;
    const Tensor &q = *dst.src[0], &k = *dst.src[1], &v = *dst.src[2], &mask = *dst.src[3];
    if ((k.type != DType::F16 && k.type != DType::F32) || v.type != k.type) return false;
    const size_t esz = k.type == DType::F16 ? 2 : 4;
    if (k.nb[0] != esz || v.nb[0] != esz || q.nb[0] != 4 || mask.nb[0] != 4 || dst.nb[0] != 4) return false;
    const int64_t D = q.ne[0], H = q.ne[1], T = q.ne[2];
    const int64_t NKV = k.ne[1], HKV = k.ne[2];
    if (D <= 0 || H <= 0 || T <= 0 || NKV <= 0 || HKV <= 0 || H % HKV != 0) return false;
    const int64_t G = H / HKV;
    if (G > kMaxRows) return false;
    const bool f16 = k.type == DType::F16;
    const float scale = dst.fp[0];
    const int64_t W = kern->width;
    const int64_t Dp = (D + W - 1) / W * W;

    const int64_t nchunks = T <= kFewTokens ? (NKV + kChunk - 1) / kChunk : 1;
    const int64_t chunk = nchunks > 1 ? kChunk : NKV;
    const int64_t s_stride = (chunk + W - 1) / W * W;
    int64_t bt = std::min({T, kMaxRows / G, std::max<int64_t>(1, kRowFloats / Dp / G)});
    if (nchunks == 1) bt = std::min(bt, kScoreFloats / (G * s_stride));
    bt = std::max<int64_t>(bt, 1);
    const int64_t nqb = (T + bt - 1) / bt;
    const int64_t ntasks = nqb * HKV * nchunks;
    const size_t max_rows = static_cast<size_t>(bt * G);
    const int64_t work = T * H * NKV * D;

    struct TaskRange {
        int64_t hk, t0, t1, c, j0, j1;
        int rows;
    };
    auto task_range = [&](int64_t task) {
        TaskRange r;
        r.c = task % nchunks;
        const int64_t rest = task / nchunks;
        r.hk = rest % HKV;
        r.t0 = (rest / HKV) * bt;
        r.t1 = std::min(T, r.t0 + bt);
        r.j0 = r.c * chunk;
        r.j1 = std::min(NKV, r.j0 + chunk);
        r.rows = static_cast<int>((r.t1 - r.t0) * G);
        return r;
    };
    // Per thread: Q rows, mask rows, m, l (double), inv, acc, the K tile, the V tile, and
    // (one range) scores.
    struct Scratch {
        std::vector<double> d;
        std::vector<float> f;
        std::vector<const float *> mrows;
        double *l;
        float *q, *ktile, *m, *inv, *acc, *tiles, *s;
    };
    // Sizes sc for this call and points into it. The storage is kept from call to call (one
    // per thread, thread_local below) and not cleared: each pass writes what it reads.
    auto fit_scratch = [&](Scratch &sc, bool with_scores) {
        const size_t R = max_rows;
        sc.l = grown(sc.d, R);
        sc.q = grown(sc.f, R * static_cast<size_t>(2 * Dp + 2) + static_cast<size_t>(2 * W * Dp) +
                               (with_scores ? R * static_cast<size_t>(s_stride) : 0));
        grown(sc.mrows, R);
        sc.ktile = sc.q + R * Dp;
        sc.acc = sc.ktile + W * Dp;
        sc.m = sc.acc + R * Dp;
        sc.inv = sc.m + R;
        sc.tiles = sc.inv + R;
        sc.s = sc.tiles + W * Dp;
    };
    // with_q: the query rows too (only the score pass reads them).
    auto prepare_rows = [&](const TaskRange &tr, Scratch &sc, bool with_q) {
        for (int64_t t = tr.t0; t < tr.t1; ++t)
            for (int64_t g = 0; g < G; ++g) {
                const size_t r = static_cast<size_t>((t - tr.t0) * G + g);
                if (with_q) kern->query_row(reinterpret_cast<const float *>(q.row(tr.hk * G + g, t)), D, Dp, f16, sc.q + r * Dp);
                sc.mrows[r] = reinterpret_cast<const float *>(mask.row(t)) + tr.j0;
                sc.m[r] = -INFINITY;
                sc.l[r] = 0.0;
            }
    };
    auto make_tile = [&](const TaskRange &tr, Scratch &sc, float *scores) {
        attn::Tile tile;
        tile.D = D;
        tile.Dp = Dp;
        tile.rows = tr.rows;
        tile.q = sc.q;
        tile.mask = sc.mrows.data();
        tile.k = k.row(tr.j0, tr.hk);
        tile.v = v.row(tr.j0, tr.hk);
        tile.k_stride = k.nb[1];
        tile.v_stride = v.nb[1];
        tile.n = tr.j1 - tr.j0;
        tile.f16 = f16;
        tile.scale = scale;
        tile.s = scores;
        tile.s_stride = s_stride;
        tile.m = sc.m;
        tile.l = sc.l;
        tile.inv = sc.inv;
        tile.acc = sc.acc;
        tile.scratch = sc.tiles;
        tile.ktile = sc.ktile;
        return tile;
    };
    auto state_index = [&](int64_t c, int64_t t, int64_t h) { return static_cast<size_t>((c * T + t) * H + h); };

    if (nchunks == 1) {
        std::atomic<int64_t> next{0};
        parallel_run(work, [&](int, int) {
            static thread_local Scratch sc;
            fit_scratch(sc, true);
            for (int64_t task; (task = next.fetch_add(1, std::memory_order_relaxed)) < ntasks;) {
                const TaskRange tr = task_range(task);
                prepare_rows(tr, sc, true);
                const attn::Tile tile = make_tile(tr, sc, sc.s);
                kern->score_pass(tile);
                kern->sum_pass(tile);
                for (int r = 0; r < tr.rows; ++r) sc.inv[r] = sc.l[r] > 0.0 ? static_cast<float>(1.0 / sc.l[r]) : 0.0f;
                std::fill(sc.acc, sc.acc + static_cast<size_t>(tr.rows) * Dp, 0.0f);
                kern->value_pass(tile);
                for (int64_t t = tr.t0; t < tr.t1; ++t)
                    for (int64_t g = 0; g < G; ++g) {
                        const float *a = sc.acc + static_cast<size_t>((t - tr.t0) * G + g) * Dp;
                        std::memcpy(dst.row(tr.hk * G + g, t), a, static_cast<size_t>(D) * sizeof(float));
                    }
            }
        });
        return true;
    }

    // Split keys: the scores of every range, then each range's sum with the rows' overall
    // max, then the values with the overall sums, then the ranges' outputs added up.
    const size_t n_states = static_cast<size_t>(nchunks * T * H);
    // Reused from call to call (a decode step needs them in every layer): every element a
    // pass reads was written by an earlier pass of this call, so they are not cleared.
    static thread_local std::vector<float> part_m_buf, part_acc_buf, scores_buf;
    static thread_local std::vector<double> part_l_buf;
    float *part_m = grown(part_m_buf, n_states), *part_acc = grown(part_acc_buf, n_states * static_cast<size_t>(Dp));
    double *part_l = grown(part_l_buf, n_states);
    float *scores = grown(scores_buf, static_cast<size_t>(ntasks) * max_rows * static_cast<size_t>(s_stride));
    auto task_scores = [&](int64_t task) { return scores + static_cast<size_t>(task) * max_rows * s_stride; };
    // The rows' overall max (into sc.m) and, with sums, 1 / overall sum (into sc.inv).
    auto merged = [&](const TaskRange &tr, Scratch &sc, bool sums) {
        for (int64_t t = tr.t0; t < tr.t1; ++t)
            for (int64_t g = 0; g < G; ++g) {
                const size_t r = static_cast<size_t>((t - tr.t0) * G + g);
                const int64_t h = tr.hk * G + g;
                float mx = -INFINITY;
                double sum = 0.0;
                for (int64_t c = 0; c < nchunks; ++c) {
                    mx = std::max(mx, part_m[state_index(c, t, h)]);
                    if (sums) sum += part_l[state_index(c, t, h)];
                }
                sc.m[r] = mx;
                sc.l[r] = 0.0;
                if (sums) sc.inv[r] = sum > 0.0 ? static_cast<float>(1.0 / sum) : 0.0f;
            }
    };
    // Tasks of one pass: (token block, key range) with every KV head inside, the keys in
    // sub-ranges of kSweepKeys taken for all heads in turn. A token's heads lie side by
    // side in the cache, so this reads the range's cache rows front to back (one head's
    // keys alone are a cache row apart, a stride the hardware prefetchers follow
    // poorly), and the next sub-range is prefetched while this one computes.
    const int64_t ngroups_t = nqb * nchunks;
    auto task_of = [&](int64_t qb, int64_t hk, int64_t c) { return (qb * HKV + hk) * nchunks + c; };
    // swept: the cache tensor the pass reads (K or V), prefetched a sub-range ahead; null: a
    // pass over the scores alone, one call per head and range.
    auto for_tasks = [&](const Tensor *swept, const std::function<void(const TaskRange &, Scratch &)> &begin,
                         const std::function<void(attn::Tile &)> &pass,
                         const std::function<void(const TaskRange &, Scratch &)> &end) {
        std::atomic<int64_t> next{0};
        parallel_run(work, [&](int, int) {
            static thread_local std::vector<Scratch> heads;
            static thread_local std::vector<const float *> mrows_buf;
            static thread_local std::vector<TaskRange> trs_buf;
            if (heads.size() < static_cast<size_t>(HKV)) heads.resize(static_cast<size_t>(HKV));
            for (int64_t hk = 0; hk < HKV; ++hk) fit_scratch(heads[static_cast<size_t>(hk)], false);
            const float **mrows = grown(mrows_buf, max_rows);
            TaskRange *trs = grown(trs_buf, static_cast<size_t>(HKV));
            for (int64_t gt; (gt = next.fetch_add(1, std::memory_order_relaxed)) < ngroups_t;) {
                const int64_t qb = gt / nchunks, c = gt % nchunks;
                for (int64_t hk = 0; hk < HKV; ++hk) {
                    trs[hk] = task_range(task_of(qb, hk, c));
                    begin(trs[hk], heads[hk]);
                }
                const TaskRange &t0 = trs[0];
                const int64_t sweep = swept ? kSweepKeys : t0.j1 - t0.j0;
                for (int64_t j = t0.j0; j < t0.j1; j += sweep) {
                    const int64_t nk = std::min(sweep, t0.j1 - j);
                    // The next sub-range's rows, a head's share of them before each head: spread
                    // over the work rather than in one burst, which stalls on the miss queue.
                    const size_t ahead = swept && j + sweep < t0.j1
                                             ? static_cast<size_t>(std::min(sweep, t0.j1 - j - sweep)) * swept->nb[1]
                                             : 0;
                    const size_t share = (ahead / static_cast<size_t>(HKV) + 63) / 64 * 64;
                    for (int64_t hk = 0; hk < HKV; ++hk) {
                        const size_t from = share * static_cast<size_t>(hk);
                        if (from < ahead) prefetch_span(swept->row(j + sweep, 0) + from, std::min(share, ahead - from));
                        const TaskRange &tr = trs[hk];
                        Scratch &sc = heads[hk];
                        attn::Tile tile = make_tile(tr, sc, task_scores(task_of(qb, hk, c)));
                        const int64_t off = j - tr.j0;
                        for (int r = 0; r < tr.rows; ++r) mrows[r] = sc.mrows[r] + off;
                        tile.mask = mrows;
                        tile.k = k.row(j, hk);
                        tile.v = v.row(j, hk);
                        tile.n = nk;
                        tile.s += off;
                        pass(tile);
                    }
                }
                for (int64_t hk = 0; hk < HKV; ++hk) end(trs[hk], heads[hk]);
            }
        });
    };
    for_tasks(
        &k, [&](const TaskRange &tr, Scratch &sc) { prepare_rows(tr, sc, true); },
        [&](attn::Tile &t) { kern->score_pass(t); },
        [&](const TaskRange &tr, Scratch &sc) {
            for (int64_t t = tr.t0; t < tr.t1; ++t)
                for (int64_t g = 0; g < G; ++g)
                    part_m[state_index(tr.c, t, tr.hk * G + g)] = sc.m[static_cast<size_t>((t - tr.t0) * G + g)];
        });
    for_tasks(
        nullptr,
        [&](const TaskRange &tr, Scratch &sc) {
            prepare_rows(tr, sc, false);
            merged(tr, sc, false);
        },
        [&](attn::Tile &t) { kern->sum_pass(t); },
        [&](const TaskRange &tr, Scratch &sc) {
            for (int64_t t = tr.t0; t < tr.t1; ++t)
                for (int64_t g = 0; g < G; ++g)
                    part_l[state_index(tr.c, t, tr.hk * G + g)] = sc.l[static_cast<size_t>((t - tr.t0) * G + g)];
        });
    for_tasks(
        &v,
        [&](const TaskRange &tr, Scratch &sc) {
            prepare_rows(tr, sc, false);
            merged(tr, sc, true);
            std::fill(sc.acc, sc.acc + static_cast<size_t>(tr.rows) * Dp, 0.0f);
        },
        [&](attn::Tile &t) { kern->value_pass(t); },
        [&](const TaskRange &tr, Scratch &sc) {
            for (int64_t t = tr.t0; t < tr.t1; ++t)
                for (int64_t g = 0; g < G; ++g) {
                    const size_t r = static_cast<size_t>((t - tr.t0) * G + g);
                    std::memcpy(&part_acc[state_index(tr.c, t, tr.hk * G + g) * Dp], sc.acc + r * Dp,
                                static_cast<size_t>(D) * sizeof(float));
                }
        });
    parallel_for(T * H, T * H * nchunks * D, [&](int64_t b, int64_t e) {
        for (int64_t th = b; th < e; ++th) {
            const int64_t t = th / H, h = th % H;
            float *out = reinterpret_cast<float *>(dst.row(h, t));
            std::fill(out, out + D, 0.0f);
            for (int64_t c = 0; c < nchunks; ++c) {
                const float *a = &part_acc[state_index(c, t, h) * Dp];
                for (int64_t d = 0; d < D; ++d) out[d] += a[d];
            }
        }
    });
    return true;
}

} // namespace corvid::cpu
