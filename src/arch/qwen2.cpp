// qwen2: Qwen 2 / 2.5. The llama decoder with biases on the Q, K and V projections and
// RoPE over the two halves of each head (NeoX style); the output is often tied.
#include "arch/llama_family.h"

namespace corvid {

std::unique_ptr<Architecture> make_qwen2(const gguf::GgufFile &file, WeightStore &w) {
    return make_llama_family(file, w, {"qwen2", /*neox_rope=*/true, /*qkv_biases=*/true});
}

} // namespace corvid
