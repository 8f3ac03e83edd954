// The llama decoder and its close relatives, which differ only in a few switches.
#pragma once

#include "arch/layers.h"

namespace corvid {

struct LlamaFamily {
    const char *name; // GGUF architecture name: the metadata key prefix
    bool neox_rope;   // rotate (i, i + n/2) pairs instead of (2i, 2i+1)
    bool qkv_biases;  // attn_q/k/v carry biases
};

std::unique_ptr<Architecture> make_llama_family(const gguf::GgufFile &file, WeightStore &weights, const LlamaFamily &fam);

} // namespace corvid
