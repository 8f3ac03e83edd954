// The structs behind the C API's opaque handles.
#pragma once

#include "corvid.h"
#include "runtime/context.h"
#include "runtime/model.h"
#include "sample/sampler.h"

#include <memory>
#include <mutex>
#include <string>

namespace corvid::grammar {
struct VocabIndex;
}

struct corvid_model {
    std::unique_ptr<corvid::Model> model;
    std::string architecture;
    std::string name;
    uint64_t n_params = 0;
    // The vocabulary trie grammar samplers walk: built by the first sampler with a grammar
    // (a pass over the whole vocabulary, ~0.1 s at 262k tokens) and shared by the later ones.
    mutable std::mutex grammar_index_mu;
    mutable std::shared_ptr<const corvid::grammar::VocabIndex> grammar_index;

    const corvid::gguf::GgufFile &file() const { return model->file(); }
};

struct corvid_context {
    const corvid_model *owner = nullptr;
    std::unique_ptr<corvid::Context> ctx;
};

struct corvid_sampler {
    corvid::SamplerChain chain;
};
