// Include LAST in a source file whose float arithmetic must match ggml's bit for bit.
//
// Exact agreement needs every float operation rounded on its own: no contraction of
// a * b + c into a fused multiply-add, which clang does by default and GCC does in
// GNU mode (-std=gnu++17) whenever the target has FMA (-march=native, AArch64).
// From the point of inclusion to the end of the file, this turns contraction off.
// Never include it from a header.
#pragma once

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
