// Reference kernels for the row-wise ops: lookups, elementwise math, norms, RoPE,
// softmax, copies and KV writes.
#include "cpu/cpu_kernels.h"
#include "cpu/cpu_panels.h"
#include "cpu/cpu_parallel.h"

#include "tensor/fp16.h"
#include "tensor/quants.h"
#include "util/error.h"

#include <cmath>
#include <cstring>
#include <vector>

namespace corvid::cpu {
namespace {

// Calls f(i1, i2, i3) for every row of t, split over threads.
template <typename F> void for_each_row(const Tensor &t, F &&f) {
    const int64_t n1 = t.ne[1], n2 = t.ne[2], n3 = t.ne[3];
    const int64_t rows = n1 * n2 * n3;
    parallel_for(rows, rows * t.ne[0], [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) f(r % n1, (r / n1) % n2, r / (n1 * n2));
    });
}

float *frow(const Tensor &t, int64_t i1, int64_t i2, int64_t i3) {
    return reinterpret_cast<float *>(t.row(i1, i2, i3));
}

// Row of a broadcast operand: dimensions of size 1 repeat.
const float *brow(const Tensor &b, int64_t i1, int64_t i2, int64_t i3) {
    return reinterpret_cast<const float *>(b.row(i1 % b.ne[1], i2 % b.ne[2], i3 % b.ne[3]));
}

void require_row_contiguous(const Tensor &t, const char *op) {
    if (t.nb[0] != traits(t.type).block_bytes)
        fail(Status::internal, "cpu %s: rows of %s are not contiguous", op, describe(t).c_str());
}

// gelu(x) in float, as the reference engine's table generator computes it.
float gelu_f32(float x) {
    const float kSqrt2OverPi = 0.79788456080286535587989211986876f;
    const float kCoefA = 0.044715f;
    return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + kCoefA * x * x)));
}

} // namespace

float silu(float x) { return x / (1.0f + std::exp(-x)); }

float gelu_f16_table(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    const float xh = fp16_to_fp32(fp32_to_fp16(x));
    return fp16_to_fp32(fp32_to_fp16(gelu_f32(xh)));
}

void get_rows(Tensor &dst) {
    const Tensor &table = *dst.src[0];
    const Tensor &ids = *dst.src[1];
    const int64_t n = ids.ne[0];
    const int32_t *id = static_cast<const int32_t *>(ids.data);
    for (int64_t i = 0; i < n; ++i)
        if (id[i] < 0 || id[i] >= table.ne[1])
            fail(Status::invalid_argument, "token id %d is out of range (the table '%s' has %lld rows)", id[i],
                 table.name.c_str(), static_cast<long long>(table.ne[1]));
    if (!traits(table.type).has_reference)
        fail(Status::unsupported, "get_rows: no reference dequantizer for %s", dtype_name(table.type));
    parallel_for(n, n * table.ne[0], [&](int64_t begin, int64_t end) {
        std::vector<uint8_t> unpacked(table.layout ? table.row_bytes() : 0); // a panel table's row (cpu_panels.h)
        for (int64_t i = begin; i < end; ++i)
            dequantize_row(table.type, weight_row(table, id[i], 0, 0, unpacked.data()), frow(dst, i, 0, 0), table.ne[0]);
    });
}

namespace {
// dst = op(a, b) elementwise, with b broadcast over rows.
template <typename Op> void binary_broadcast(Tensor &dst, const char *name, Op op) {
    const Tensor &a = *dst.src[0], &b = *dst.src[1];
    require_row_contiguous(a, name);
    require_row_contiguous(b, name);
    for_each_row(dst, [&](int64_t i1, int64_t i2, int64_t i3) {
        const float *x = frow(a, i1, i2, i3), *y = brow(b, i1, i2, i3);
        float *out = frow(dst, i1, i2, i3);
        for (int64_t i = 0; i < dst.ne[0]; ++i) out[i] = op(x[i], y[i]);
    });
}
} // namespace

void add(Tensor &dst) { binary_broadcast(dst, "add", [](float x, float y) { return x + y; }); }

void mul(Tensor &dst) { binary_broadcast(dst, "mul", [](float x, float y) { return x * y; }); }

void scale(Tensor &dst) {
    const Tensor &a = *dst.src[0];
    require_row_contiguous(a, "scale");
    const float s = dst.fp[0];
    for_each_row(dst, [&](int64_t i1, int64_t i2, int64_t i3) {
        const float *x = frow(a, i1, i2, i3);
        float *out = frow(dst, i1, i2, i3);
        for (int64_t i = 0; i < dst.ne[0]; ++i) out[i] = x[i] * s;
    });
}

void rms_norm(Tensor &dst) {
    const Tensor &a = *dst.src[0];
    require_row_contiguous(a, "rms_norm");
    const float eps = dst.fp[0];
    for_each_row(dst, [&](int64_t i1, int64_t i2, int64_t i3) {
        const float *x = frow(a, i1, i2, i3);
        float *out = frow(dst, i1, i2, i3);
        double sum = 0.0;
        for (int64_t i = 0; i < dst.ne[0]; ++i) sum += static_cast<double>(x[i]) * x[i];
        const float mean = static_cast<float>(sum / dst.ne[0]);
        const float s = 1.0f / std::sqrt(mean + eps);
        for (int64_t i = 0; i < dst.ne[0]; ++i) out[i] = x[i] * s;
    });
}

void norm(Tensor &dst) {
    const Tensor &a = *dst.src[0];
    require_row_contiguous(a, "norm");
    const float eps = dst.fp[0];
    for_each_row(dst, [&](int64_t i1, int64_t i2, int64_t i3) {
        const float *x = frow(a, i1, i2, i3);
        float *out = frow(dst, i1, i2, i3);
        const int64_t n = dst.ne[0];
        double sum = 0.0;
        for (int64_t i = 0; i < n; ++i) sum += x[i];
        const float mean = static_cast<float>(sum / n);
        double var = 0.0;
        for (int64_t i = 0; i < n; ++i) {
            const float d = x[i] - mean;
            out[i] = d;
            var += static_cast<double>(d) * d;
        }
        const float s = 1.0f / std::sqrt(static_cast<float>(var / n) + eps);
        for (int64_t i = 0; i < n; ++i) out[i] *= s;
    });
}

namespace {

// YaRN's correction range: the dimension pairs whose wavelength falls between the
// beta_fast and beta_slow rotation counts over the original context.
void yarn_corr_dims(int n_dims, int n_ctx_orig, float base, float beta_fast, float beta_slow, float dims[2]) {
    auto corr_dim = [&](float n_rot) {
        return n_dims * std::log(n_ctx_orig / (n_rot * 2.0f * static_cast<float>(M_PI))) / (2.0f * std::log(base));
    };
    const float start = std::floor(corr_dim(beta_fast));
    const float end = std::ceil(corr_dim(beta_slow));
    dims[0] = std::max(0.0f, start);
    dims[1] = std::min(static_cast<float>(n_dims - 1), end);
}

float yarn_ramp(float low, float high, int i0) {
    const float y = (i0 / 2 - low) / std::max(0.001f, high - low);
    return 1.0f - std::min(1.0f, std::max(0.0f, y));
}

} // namespace

void rope(Tensor &dst) {
    const Tensor &a = *dst.src[0];
    const int32_t *pos = static_cast<const int32_t *>(dst.src[1]->data);
    const float *ff = dst.src[2] ? static_cast<const float *>(dst.src[2]->data) : nullptr;
    require_row_contiguous(a, "rope");
    const int n_dims = dst.ip[0];
    const bool neox = dst.ip[1] != 0;
    const int n_ctx_orig = dst.ip[2];
    const float freq_base = dst.fp[0], freq_scale = dst.fp[1], ext_factor = dst.fp[2], attn_factor = dst.fp[3];
    float corr[2] = {0, 0};
    if (ext_factor != 0.0f) yarn_corr_dims(n_dims, n_ctx_orig, freq_base, dst.fp[4], dst.fp[5], corr);
    const float theta_scale = std::pow(freq_base, -2.0f / n_dims);
    const int64_t head = a.ne[0];

    // cos and sin (times mscale) per token and pair, made once per token rather than once
    // per head and token: the same operations in the same order, so the same bits.
    const int64_t ntok = a.ne[2];
    static thread_local std::vector<float> table;
    table.resize(static_cast<size_t>(ntok * n_dims));
    float *tab = table.data(); // (the workers' own thread_local tables are not this one)
    parallel_for(ntok, ntok * n_dims * 8, [&](int64_t begin, int64_t end) {
        for (int64_t i2 = begin; i2 < end; ++i2) {
            float *cs = tab + i2 * n_dims;
            float theta = static_cast<float>(pos[i2]);
            for (int i0 = 0; i0 < n_dims; i0 += 2) {
                const float theta_extrap = theta / (ff ? ff[i0 / 2] : 1.0f);
                const float theta_interp = freq_scale * theta_extrap;
                float th = theta_interp, mscale = attn_factor;
                if (ext_factor != 0.0f) {
                    const float mix = yarn_ramp(corr[0], corr[1], i0) * ext_factor;
                    th = theta_interp * (1 - mix) + theta_extrap * mix;
                    mscale *= 1.0f + 0.1f * std::log(1.0f / freq_scale);
                }
                cs[i0] = std::cos(th) * mscale, cs[i0 + 1] = std::sin(th) * mscale;
                theta *= theta_scale;
            }
        }
    });
    for_each_row(dst, [&](int64_t i1, int64_t i2, int64_t i3) {
        const float *x = frow(a, i1, i2, i3);
        float *out = frow(dst, i1, i2, i3);
        const float *cs = tab + i2 * n_dims;
        for (int i0 = 0; i0 < n_dims; i0 += 2) {
            const float c = cs[i0], s = cs[i0 + 1];
            const int64_t j0 = neox ? i0 / 2 : i0;
            const int64_t j1 = neox ? i0 / 2 + n_dims / 2 : i0 + 1;
            const float x0 = x[j0], x1 = x[j1];
            out[j0] = x0 * c - x1 * s;
            out[j1] = x0 * s + x1 * c;
        }
        for (int64_t i = n_dims; i < head; ++i) out[i] = x[i];
    });
}

void soft_max(Tensor &dst) {
    const Tensor &a = *dst.src[0];
    const Tensor *mask = dst.src[1];
    require_row_contiguous(a, "soft_max");
    const float sc = dst.fp[0];
    for_each_row(dst, [&](int64_t i1, int64_t i2, int64_t i3) {
        const float *x = frow(a, i1, i2, i3);
        const float *m = mask ? reinterpret_cast<const float *>(mask->row(i1)) : nullptr;
        float *out = frow(dst, i1, i2, i3);
        const int64_t n = dst.ne[0];
        float mx = -INFINITY;
        for (int64_t i = 0; i < n; ++i) {
            out[i] = x[i] * sc + (m ? m[i] : 0.0f);
            mx = std::max(mx, out[i]);
        }
        double sum = 0.0;
        for (int64_t i = 0; i < n; ++i) {
            out[i] = std::exp(out[i] - mx);
            sum += out[i];
        }
        const float inv = static_cast<float>(1.0 / sum);
        for (int64_t i = 0; i < n; ++i) out[i] *= inv;
    });
}

void unary(Tensor &dst) {
    const Tensor &a = *dst.src[0];
    require_row_contiguous(a, op_name(dst.op));
    const bool is_gelu = dst.op == Op::gelu;
    for_each_row(dst, [&](int64_t i1, int64_t i2, int64_t i3) {
        const float *x = frow(a, i1, i2, i3);
        float *out = frow(dst, i1, i2, i3);
        if (!is_gelu && silu_mul_fast(x, nullptr, out, dst.ne[0])) return;
        for (int64_t i = 0; i < dst.ne[0]; ++i) out[i] = is_gelu ? gelu_f16_table(x[i]) : silu(x[i]);
    });
}

void glu(Tensor &dst) {
    const Tensor &g = *dst.src[0], &u = *dst.src[1];
    require_row_contiguous(g, op_name(dst.op));
    require_row_contiguous(u, op_name(dst.op));
    const bool is_gelu = dst.op == Op::geglu;
    for_each_row(dst, [&](int64_t i1, int64_t i2, int64_t i3) {
        const float *x = frow(g, i1, i2, i3), *y = frow(u, i1, i2, i3);
        float *out = frow(dst, i1, i2, i3);
        if (!is_gelu && silu_mul_fast(x, y, out, dst.ne[0])) return;
        for (int64_t i = 0; i < dst.ne[0]; ++i) out[i] = (is_gelu ? gelu_f16_table(x[i]) : silu(x[i])) * y[i];
    });
}

void cpy(Tensor &dst) {
    const Tensor &a = *dst.src[0];
    for_each_row(dst, [&](int64_t i1, int64_t i2, int64_t i3) {
        const uint8_t *x = a.row(i1, i2, i3);
        float *out = frow(dst, i1, i2, i3);
        for (int64_t i = 0; i < dst.ne[0]; ++i) std::memcpy(&out[i], x + i * a.nb[0], sizeof(float));
    });
}

void set_rows(Tensor &dst) {
    const Tensor &src = *dst.src[1];
    const int32_t *ids = static_cast<const int32_t *>(dst.src[2]->data);
    const int64_t n = src.ne[1];
    for (int64_t i = 0; i < n; ++i)
        if (ids[i] < 0 || ids[i] >= dst.ne[1])
            fail(Status::internal, "set_rows: row %d is outside '%s'", ids[i], dst.name.c_str());
    if (!traits(dst.type).has_reference) fail(Status::unsupported, "set_rows: cannot store %s rows", dtype_name(dst.type));
    // (F16 rows, the KV cache's, through the instruction set's converter: the same bits,
    // and the scalar conversion was ~9% of a 110M model's prompt.)
    const bool f16 = dst.type == DType::F16;
    parallel_for(n, n * dst.ne[0], [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const float *x = frow(src, i, 0, 0);
            if (!(f16 && to_f16_fast(x, dst.row(ids[i]), dst.ne[0]))) quantize_row(dst.type, x, dst.row(ids[i]), dst.ne[0]);
        }
    });
}

} // namespace corvid::cpu
