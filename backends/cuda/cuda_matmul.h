// Pieces of the CUDA matrix product (cuda_matmul.cu dispatches between them):
// activation conversion (cuda_activations.cu), matrix x few-vectors (cuda_matvec.cu) and
// cuBLAS GEMM over dequantized tiles (cuda_gemm.cu).
#pragma once

#include "cuda/cuda_common.cuh"

namespace corvid::cuda {

enum class ActOut { f32, f16, bf16 };

// M activation columns (column m at x + m * x_nb1, K floats) converted exactly as the
// reference does before a product with weights of type w (cpu::activation_type_for:
// through Q8_0 / Q8_K / F16 / BF16 and back), written as ActOut values to out
// ([M][ld], ld >= K; elements K..ld of each column are zeroed).
void prepare_activations(Context &ctx, DType w, const uint8_t *x, int64_t x_nb1, int64_t K, int64_t M, void *out,
                         int64_t ld, ActOut kind);

// The same conversion of act(gate) * up (swiglu; geglu with gelu), gate and up [M][K] F32
// columns g_nb1 and u_nb1 bytes apart, computed as the glu kernel computes it: the
// product after a prompt's GLU reads this, and the GLU's own result need not be stored.
void prepare_glu_activations(Context &ctx, DType w, const uint8_t *gate, int64_t g_nb1, const uint8_t *up,
                             int64_t u_nb1, bool gelu, int64_t K, int64_t M, void *out, int64_t ld, ActOut kind);

// prepare_activations into the kScratchActivations buffer, or the conversion already there
// when ctx.conv_cache says it is of the same input, converted the same way (a prompt's q, k
// and v products read one input; so do gate and up). Every use of that buffer goes through
// here, so the record stays true.
void *converted_activations(Context &ctx, DType w, const uint8_t *x, int64_t x_nb1, int64_t K, int64_t M, int64_t ld,
                            ActOut kind);
// For a kernel that makes the conversion itself while it computes x (the prompt's norms):
// where converted_activations looks for a conversion [M][K] of this kind, and the record
// saying that x (columns x_nb1 apart) is converted there, noted once the kernel is enqueued.
void *conversion_target(Context &ctx, int64_t K, int64_t M, ActOut kind);
void note_converted(Context &ctx, DType w, const uint8_t *x, int64_t x_nb1, int64_t K, int64_t M, int64_t ld,
                    ActOut kind);

// Which kernel mul_mat gives a product of weights of type w ([K] values, rows w_nb1 bytes
// apart) over M columns: the integer matvec (8-bit activations), the F16/BF16 matvec, the
// float matvec, or cuBLAS.
enum class ProductPath { matvec_q8, matvec_h, matvec_f32, gemm };
ProductPath product_path(DType w, int64_t K, int64_t w_nb1, int64_t M);
// Whether mul_mat(mm) (2-D) reads its whole input through converted_activations with ld = K,
// and as what: then a kernel that writes that input can write the conversion too.
bool converts_whole_input(const Tensor &mm, ActOut &kind);

// The same conversion kept as 8-bit integers: q [M][K], one float scale per 32 elements
// d [M][K / 32] (Q8_K's per-256 scale repeated) and the sum of each 32 values sum [M][K / 32]
// (what Q8_1 and Q8_K store beside the values: the weight types with an offset or a minimum
// need it), for integer dot products.
void prepare_activations_q8(Context &ctx, DType w, const uint8_t *x, int64_t x_nb1, int64_t K, int64_t M, int8_t *q,
                            float *d, int *sum);

// The 8-bit form of M activation columns (x + m * x_nb1, K floats each) for weights of
// type w: converted now into the free 8-bit slot, or the conversion already there when
// ctx.act_cache says it is of the same input (q, k and v read one input; so do gate and up).
struct Q8Activations {
    int8_t *q;
    float *d;
    int *sum;
    ScratchSlot slot;
};
Q8Activations q8_activations(Context &ctx, DType w, const uint8_t *xp, int64_t x_nb1, int64_t K, int64_t M);
// A place for a conversion of K x M (slot: ctx.free_q8_slot() for a new one), for a kernel
// that writes it itself; note_q8_activations then records whose conversion the slot holds.
Q8Activations q8_scratch(Context &ctx, int64_t K, int64_t M, ScratchSlot slot);
void note_q8_activations(Context &ctx, DType w, const uint8_t *xp, int64_t x_nb1, int64_t K, int64_t M, ScratchSlot slot);

// Whether matvec_q8 has an integer kernel for weight type w.
bool matvec_q8_supported(DType w);
// matvec over 8-bit activations (dp4a): dst[m * ldd + n] = sum_k W[n][k] * q[m][k] * d[m][k / 32];
// sum (the per-32 sums of q, may be null) saves the kernels adding them up again.
// layout: the weight's Tensor::layout (0 or kLayoutPlanar).
void matvec_q8(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const int8_t *q,
               const float *d, const int *sum, int64_t M, float *dst, int64_t ldd, int32_t layout);

// One matrix of a fused decode product (cuda_fuse.cu): N rows of w_nb1 bytes;
// dst[m * ldd + n] = the product, plus res[m * ldr + n] when res is set.
struct MatvecPart {
    const uint8_t *W;
    int64_t w_nb1, N;
    float *dst;
    int64_t ldd;
    const float *res;
    int64_t ldr;
    int32_t layout = 0; // the weight's Tensor::layout; the parts of one launch share it
};
constexpr int kMaxMatvecParts = 3;
// swiglu / geglu: parts[0] is the gate, parts[1] the up matrix (same N); dst of part 0
// receives act(gate) * up, part 1's dst is not written.
enum class MatvecEpilogue { none, swiglu, geglu };
// Where a product also writes its results' Q8_0 form (q [M][N], d and sum [M][N / 32], as
// prepare_activations_q8 would), for the product that reads them next; counters: N / 32
// zeroed ints (kScratchCounters), left zeroed.
struct Q8Sink {
    int8_t *q = nullptr;
    float *d = nullptr;
    int *sum = nullptr;
    int *counters = nullptr;
};
// Up to kMaxMatvecParts products of weights of one type over the same 8-bit activations
// (q, d, sum as for matvec_q8) in one launch. out.q: part 0's results (one product, or the
// GLU pair's) also as Q8_0, N % 32 == 0.
void matvec_q8_parts(Context &ctx, DType w, const MatvecPart *parts, int n_parts, int64_t K, const int8_t *q,
                     const float *d, const int *sum, int64_t M, MatvecEpilogue epilogue, const Q8Sink &out = {});

// The input of an F16 / BF16 product: x [M][K] 16-bit values, rounded to the weight's
// format (exact in it); or, for one column (f32), the floats themselves, which the kernel
// rounds the same way as it loads them.
struct HInput {
    const void *p;
    bool f32;
};
// For mul_mat(w, x) on the F16 / BF16 matvec: the conversion already made of x (a norm
// before q/k/v writes it), else for one 16-byte aligned column x itself (no conversion
// kernel), else a conversion made now (converted_activations). floats_ok false: never x
// itself (the launch writes over x's bytes; a conversion kernel reads x before it).
HInput h_input(Context &ctx, DType w, const uint8_t *x, int64_t x_nb1, int64_t K, int64_t M, bool floats_ok = true);

// F16 / BF16 weights (K % 8 == 0, 16-byte aligned rows) against activations x rounded to
// the same format: 16-byte loads throughout. res (may be null): dst[m * ldd + n] = the
// product + res[m * ldr + n] (a residual; ldr 0: a bias).
bool matvec_h_supported(DType w, int64_t K, int64_t w_nb1);
void matvec_h(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, HInput x, int64_t M,
              float *dst, int64_t ldd, const float *res = nullptr, int64_t ldr = 0);

// One column (M = 1) of up to kMaxMatvecParts F16 / BF16 products over one input x [K] in
// one launch, each part's res added as matvec_h does. With a GLU epilogue parts[0] is the
// gate and parts[1] the up matrix (same N): act(gate) * up goes to parts[0].dst, part 1's
// dst is not written.
void matvec_h_parts(Context &ctx, DType w, const MatvecPart *parts, int n_parts, int64_t K, HInput x,
                    MatvecEpilogue epilogue);

// dst[m * ldd + n] = sum_k W[n][k] * xq[m * ldx + k] for n < N, m < M (M <= kMatvecMaxCols).
constexpr int kMatvecMaxCols = 8;
void matvec(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const float *xq,
            int64_t ldx, int64_t M, float *dst, int64_t ldd);

// The same product for many columns through cuBLAS: x (raw F32 activations) is converted
// here; quantized weights are dequantized to F16 in row chunks.
// planar: W is a whole planar matrix of N rows (cuda_planar.cuh). accumulate: the product
// is added to what dst holds (cuBLAS's beta = 1: a residual add in the GEMM's epilogue).
void gemm(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const uint8_t *x,
          int64_t x_nb1, int64_t M, float *dst, int64_t ldd, bool planar, bool accumulate = false);
// gemm() in two steps, for a caller that writes dst over x's floats in between (the residual
// copy of a GEMM that adds it): gemm_input converts x as gemm() reads it (made now unless the
// conversion scratch holds it), gemm_converted multiplies that conversion (it stays put when
// other scratch slots grow, which would make gemm() convert x again).
const void *gemm_input(Context &ctx, DType w, const uint8_t *x, int64_t x_nb1, int64_t K, int64_t M);
void gemm_converted(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const void *xin,
                    int64_t M, float *dst, int64_t ldd, bool planar, bool accumulate);

} // namespace corvid::cuda
