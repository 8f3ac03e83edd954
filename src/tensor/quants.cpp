// quants.h: validation and the table from type to reference kernels.
#include "tensor/quants.h"

#include "tensor/quant_kernels.h"

namespace corvid {
namespace {

struct Kernels {
    DType type;
    quant::DequantizeFn dequantize;
    quant::QuantizeFn quantize;
};

// Exactly the types whose dtype traits say has_reference (tests/tensor checks this).
constexpr Kernels kKernels[] = {
    {DType::F32, quant::dequantize_f32, quant::quantize_f32},
    {DType::F16, quant::dequantize_f16, quant::quantize_f16},
    {DType::BF16, quant::dequantize_bf16, quant::quantize_bf16},
    {DType::Q4_0, quant::dequantize_q4_0, quant::quantize_q4_0},
    {DType::Q4_1, quant::dequantize_q4_1, quant::quantize_q4_1},
    {DType::Q5_0, quant::dequantize_q5_0, quant::quantize_q5_0},
    {DType::Q5_1, quant::dequantize_q5_1, quant::quantize_q5_1},
    {DType::Q8_0, quant::dequantize_q8_0, quant::quantize_q8_0},
    {DType::Q8_1, quant::dequantize_q8_1, quant::quantize_q8_1},
    {DType::Q2_K, quant::dequantize_q2_k, quant::quantize_q2_k},
    {DType::Q3_K, quant::dequantize_q3_k, quant::quantize_q3_k},
    {DType::Q4_K, quant::dequantize_q4_k, quant::quantize_q4_k},
    {DType::Q5_K, quant::dequantize_q5_k, quant::quantize_q5_k},
    {DType::Q6_K, quant::dequantize_q6_k, quant::quantize_q6_k},
    {DType::Q8_K, quant::dequantize_q8_k, quant::quantize_q8_k},
    {DType::IQ4_NL, quant::dequantize_iq4_nl, quant::quantize_iq4_nl},
    {DType::IQ4_XS, quant::dequantize_iq4_xs, quant::quantize_iq4_xs},
};

// The kernels for t and its block count for n elements, or nullptr when refused.
const Kernels *lookup(DType t, int64_t n, int64_t *n_blocks) {
    if (n < 0) return nullptr;
    const DTypeTraits &tr = traits(t);
    if (!tr.has_reference || n % tr.block_size != 0) return nullptr;
    for (const Kernels &k : kKernels) {
        if (k.type == t) {
            *n_blocks = n / tr.block_size;
            return &k;
        }
    }
    return nullptr;
}

struct WeightedKernel {
    DType type;
    quant::QuantizeWeightedFn quantize;
};

constexpr WeightedKernel kWeighted[] = {
    {DType::Q4_0, quant::quantize_q4_0_imatrix},   {DType::Q4_1, quant::quantize_q4_1_imatrix},
    {DType::Q5_0, quant::quantize_q5_0_imatrix},   {DType::Q5_1, quant::quantize_q5_1_imatrix},
    {DType::Q2_K, quant::quantize_q2_k_imatrix},   {DType::Q3_K, quant::quantize_q3_k_imatrix},
    {DType::Q4_K, quant::quantize_q4_k_imatrix},   {DType::Q5_K, quant::quantize_q5_k_imatrix},
    {DType::Q6_K, quant::quantize_q6_k_imatrix},   {DType::IQ4_NL, quant::quantize_iq4_nl_imatrix},
    {DType::IQ4_XS, quant::quantize_iq4_xs_imatrix},
};

const WeightedKernel *weighted_kernel(DType t) {
    for (const WeightedKernel &k : kWeighted)
        if (k.type == t) return &k;
    return nullptr;
}

} // namespace

bool uses_importance(DType t) { return weighted_kernel(t) != nullptr; }

bool quantize_row_imatrix(DType t, const float *src, void *dst, int64_t n, const float *importance) {
    const WeightedKernel *w = importance ? weighted_kernel(t) : nullptr;
    if (!w) return quantize_row(t, src, dst, n);
    int64_t n_blocks = 0;
    if (!lookup(t, n, &n_blocks)) return false;
    if (n_blocks > 0) w->quantize(src, dst, n_blocks, importance);
    return true;
}

bool dequantize_row(DType t, const void *src, float *dst, int64_t n) {
    int64_t n_blocks = 0;
    const Kernels *k = lookup(t, n, &n_blocks);
    if (!k) return false;
    if (n_blocks > 0) k->dequantize(src, dst, n_blocks);
    return true;
}

bool quantize_row(DType t, const float *src, void *dst, int64_t n) {
    int64_t n_blocks = 0;
    const Kernels *k = lookup(t, n, &n_blocks);
    if (!k) return false;
    if (n_blocks > 0) k->quantize(src, dst, n_blocks);
    return true;
}

} // namespace corvid
