// The CUDA backend's op launchers: one per op (or family), each enqueueing its kernels on
// ctx.stream for dst, whose sources' data are device pointers. None waits for the host.
#pragma once

#include "cuda/cuda_common.cuh"
#include "cuda/cuda_fusable.h"

namespace corvid::cuda {

// Weight types the backend computes with (get_rows tables, mul_mat weights).
bool weight_type_supported(DType t);
// Types set_rows can store (the KV cache's types).
bool store_type_supported(DType t);

void get_rows(Context &ctx, Tensor &dst);  // cuda_getrows.cu
void set_rows(Context &ctx, Tensor &dst);  // cuda_getrows.cu
void set_rows_pair(Context &ctx, Tensor &a, Tensor &b);
void mul_mat(Context &ctx, Tensor &dst);   // cuda_matmul.cu (matvec or GEMM)
void binary(Context &ctx, Tensor &dst);    // add, mul — cuda_elementwise.cu
void scale(Context &ctx, Tensor &dst);     // cuda_elementwise.cu
void unary(Context &ctx, Tensor &dst);     // silu, gelu — cuda_elementwise.cu
void glu(Context &ctx, Tensor &dst);       // swiglu, geglu — cuda_elementwise.cu
void cpy(Context &ctx, Tensor &dst);       // cuda_elementwise.cu
void rms_norm(Context &ctx, Tensor &dst);  // cuda_norm_rope.cu
void norm(Context &ctx, Tensor &dst);      // cuda_norm_rope.cu
// rms_norm immediately followed by mul(norm, one weight row): one kernel for both, which
// writes the norm's own result only when write_norm (false: only the mul reads it). It
// can also write the input form of the product that reads the mul next (NormProductForm),
// where the row's shape allows; returns whether it did.
//   family 32 / 256 with q8: the 8-bit blocks, q8 [rows][n], d8 and s8 [rows][n / 32], as
//     prepare_activations_q8 makes them (the integer matvec);
//   h: the values prepare_activations makes as F16 (BF16 with bf16) at h [rows][n], through
//     Q8_0 (family 32), Q8_K (256) or plain rounding (0) (cuBLAS, the F16 matvec).
struct NormProductForm {
    int family = 0;
    int8_t *q8 = nullptr;
    float *d8 = nullptr;
    int *s8 = nullptr;
    void *h = nullptr;
    bool bf16 = false;
};
bool rms_norm_mul(Context &ctx, Tensor &norm, Tensor &mul, bool write_norm, const NormProductForm &form = {});
void rope(Context &ctx, Tensor &dst);      // cuda_norm_rope.cu
void rope_pair(Context &ctx, Tensor &a, Tensor &b);
void rope_store(Context &ctx, Tensor &a, Tensor &b, Tensor &ks, Tensor &vs);
void soft_max(Context &ctx, Tensor &dst);  // cuda_norm_rope.cu
// With q8 (decode only): also writes the result's Q8_0 form (q8, d8, s8 as
// prepare_activations_q8 would, for columns of head_dim * n_head values) when the head size
// allows; returns whether it did.
bool attention(Context &ctx, Tensor &dst, int8_t *q8 = nullptr, float *d8 = nullptr, int *s8 = nullptr);
// The attention node's operands as its kernels read them: q, k, v and the mask with their
// row strides in bytes (the kernels' argument structs derive from it).
struct AttnOperands {
    const uint8_t *q, *k, *v, *mask;
    int64_t q_nb1, q_nb2, k_nb1, k_nb2, v_nb1, v_nb2, mask_nb1;
};
inline AttnOperands attn_operands(const Tensor &dst) {
    const Tensor &q = *dst.src[0], &k = *dst.src[1], &v = *dst.src[2], &mask = *dst.src[3];
    return AttnOperands{static_cast<const uint8_t *>(q.data),    static_cast<const uint8_t *>(k.data),
                        static_cast<const uint8_t *>(v.data),    static_cast<const uint8_t *>(mask.data),
                        static_cast<int64_t>(q.nb[1]),           static_cast<int64_t>(q.nb[2]),
                        static_cast<int64_t>(k.nb[1]),           static_cast<int64_t>(k.nb[2]),
                        static_cast<int64_t>(v.nb[1]),           static_cast<int64_t>(v.nb[2]),
                        static_cast<int64_t>(mask.nb[1])};
}
// Queries from which attention takes the prompt paths (flash, or batched GEMMs).
constexpr int kPromptAttentionMinTokens = 16;
// The form the product reading a prompt attention's result next takes, which the flash
// kernel can write itself (the conversion converted_activations would make): F16 (BF16 with
// bf16) values at h [T][H * D], rounded (family 0) or through Q8_0 (32); skip_f32: the F32
// result is not stored (only that product reads it).
struct AttnOutForm {
    void *h = nullptr;
    int family = 0;
    bool bf16 = false, skip_f32 = false;
};
// Prompt attention over an F16 cache in one flash kernel (cuda_flash_attention.cu); false,
// having done nothing, where it does not apply (cache type, head size, alignment, or
// Context::flash_prompt off). With form: *form_written says whether it wrote that form (not
// when the keys are split, nor Q8_0 for head sizes that are not a multiple of 32); when it did
// not, the F32 result is stored whatever skip_f32 says.
bool flash_attention_prompt(Context &ctx, Tensor &dst, const AttnOutForm *form = nullptr, bool *form_written = nullptr);
// Merges split attention's partial states into out [T][H][D]: part_ml [T][H][chunks] holds
// each chunk's (max, sum of exp(score - max)), part_acc [T][H][chunks][D] its unnormalised
// weighted sum of V (cuda_attention.cu).
void attention_merge(Context &ctx, const float *part_acc, const float2 *part_ml, float *out, int D, int H, int T,
                     int chunks);

// Streaming read bandwidth of device memory in bytes/s (cuda_bandwidth.cu).
double measure_read_bandwidth(Context &ctx, size_t bytes);

} // namespace corvid::cuda
