// The GPU options every command that runs a model takes (llama.cpp's names).
#pragma once

#include <CLI/CLI.hpp>
#include <corvid.h>

namespace corvid::cli {

struct GpuOptions {
    int gpu_layers = -1; // all
    int main_gpu = 0;

    void apply(corvid_model_params &p) const {
        p.n_gpu_layers = gpu_layers;
        p.main_gpu = main_gpu;
    }
};

inline void add_gpu_options(CLI::App *cmd, GpuOptions *o) {
    cmd->add_option("--gpu-layers,--n-gpu-layers", o->gpu_layers,
                    "Layers to run on the GPU, counted from the last (-1 = all, 0 = CPU only; also -ngl)")
        ->capture_default_str();
    cmd->add_option("--main-gpu", o->main_gpu, "The GPU to use (also -mg)")->capture_default_str();
}

} // namespace corvid::cli
