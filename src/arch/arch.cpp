#include "arch/arch.h"

#include "util/error.h"

namespace corvid {
namespace {

struct Entry {
    const char *name;
    std::unique_ptr<Architecture> (*make)(const gguf::GgufFile &, WeightStore &);
};

const Entry kArchitectures[] = {
    {"llama", make_llama},
    {"qwen2", make_qwen2},
    {"gemma3", make_gemma3},
};

} // namespace

const char *supported_architectures() { return "llama, qwen2, gemma3"; }

std::vector<KvLayerShape> Architecture::kv_shapes() const {
    std::vector<KvLayerShape> out;
    for (const auto &l : hp_.layers) out.push_back({hp_.head_dim_k * l.n_head_kv, hp_.head_dim_v * l.n_head_kv});
    return out;
}

std::unique_ptr<Architecture> load_architecture(const gguf::GgufFile &file, WeightStore &weights) {
    const gguf::Value *a = file.find("general.architecture");
    if (!a || !a->as_string())
        fail(Status::format, "%s: general.architecture is missing or not a string", file.path().c_str());
    for (const Entry &e : kArchitectures)
        if (*a->as_string() == e.name) return e.make(file, weights);
    fail(Status::unsupported, "%s: architecture '%s' is not supported (supported: %s)", file.path().c_str(),
         a->as_string()->c_str(), supported_architectures());
}

} // namespace corvid
