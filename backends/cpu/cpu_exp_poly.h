// The float exp polynomial shared by the CPU backend's vector kernels (the attention
// softmax in cpu_attention_simd.inc, SiLU in cpu_matmul_x86.inc): x = n ln2 + r with
// |r| <= ln2 / 2 (Cody-Waite: ln2 in a high part exact in float times n, and a low part),
// then e^r by its Taylor terms to r^7 (below 1e-8 relative), then the scaling by 2^n, which
// each kernel does for its own range of x.
#pragma once

namespace corvid::cpu {

// 1 / k!, the Taylor terms of e^r, k = 0..7.
constexpr float kExpTaylor[8] = {1.0f, 1.0f, 1.0f / 2, 1.0f / 6, 1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040};
constexpr float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693145751953125f, kLn2Lo = 1.42860682030941723212e-6f;

} // namespace corvid::cpu
