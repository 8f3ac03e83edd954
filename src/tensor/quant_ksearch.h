// Internal: the per-sub-block scale searches of the K-quant quantizers.
//
// Each one picks a scale (and for affine types a minimum) for one small group of
// values and the integer levels L that go with it, minimising a weighted error.
// They take the weights as an argument: the reference quantizers pass weights derived
// from the values, the importance-matrix variants (ggml's quantize_row_*_impl) weights
// derived from the importance matrix.
#pragma once

#include <cstdint>

namespace corvid::quant {

// Groups whose largest magnitude is below this are treated as all zero.
inline constexpr float kGroupMaxEps = 1e-15f;

// Affine fit x ~ scale * L - min with L in 0..nmax (ggml: make_qkx2_quants).
// Starts from the min/max grid, then tries nstep + 1 rescaled grids
// (iscale = (nmax + rmin + rdelta * is) / (max - min)), each followed by a weighted
// least-squares solve for scale and min; keeps the one with the least weighted
// error (squared, or absolute when use_mad). The minimum is never above 0.
// Writes L[0..n), sets *neg_min = -min (>= 0) and returns scale. aux holds n bytes.
float affine_scale_search(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *neg_min,
                          uint8_t *aux, float rmin, float rdelta, int nstep, bool use_mad);

// Symmetric fit x ~ scale * (L - nmax), L - nmax in -nmax..nmax-1 (ggml: make_qx_quants
// with rmse_type 1). Tries iscale = -(nmax + 0.1 * is) / max for is = 0, +-1, ..., +-9
// (max: the signed element of largest magnitude) and keeps the one whose least-squares
// scale explains most weighted energy. weights == nullptr means x[i]^2.
// Writes L[0..n) (in 0..2*nmax-1) and returns the scale (0 for an all-zero group).
float symmetric_scale_search(int n, int nmax, const float *x, int8_t *L, const float *weights);

// Symmetric fit for Q3_K (ggml: make_q3_quants with do_rmse): levels from the plain
// grid, then up to 5 passes of per-element coordinate descent on the x^2-weighted
// least-squares objective. Writes L[0..n) (in 0..2*nmax-1) and returns the scale.
float symmetric_scale_refine(int n, int nmax, const float *x, int8_t *L);

// Scale for non-negative values x ~ scale * L with L in 0..nmax (ggml: make_qp_quants),
// used to quantize the sub-block scales and minimums of the importance-matrix K-quants:
// tries iscale = (nmax + 0.1 * is) / max for is = -4..4 by weighted squared error, then
// up to 5 passes of per-element coordinate descent. Writes L[0..n) (as bytes, like
// ggml: a negative level wraps) and returns the scale (0 for an all-zero group).
float positive_scale_search(int n, int nmax, const float *x, uint8_t *L, const float *weights);

} // namespace corvid::quant
