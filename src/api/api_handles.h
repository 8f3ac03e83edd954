// The structs behind the C API's opaque handles.
#pragma once

#include "corvid.h"
#include "runtime/context.h"
#include "runtime/model.h"
#include "sample/sampler.h"

#include <memory>
#include <string>

struct corvid_model {
    std::unique_ptr<corvid::Model> model;
    std::string architecture;
    std::string name;
    uint64_t n_params = 0;

    const corvid::gguf::GgufFile &file() const { return model->file(); }
};

struct corvid_context {
    const corvid_model *owner = nullptr;
    std::unique_ptr<corvid::Context> ctx;
};

struct corvid_sampler {
    corvid::SamplerChain chain;
};
