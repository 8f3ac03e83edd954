// The model-loading options every command that runs a model takes: placement on a GPU
// and file mapping (llama.cpp's names).
#pragma once

#include <CLI/CLI.hpp>
#include <corvid.h>

namespace corvid::cli {

struct GpuOptions {
    int gpu_layers = -1; // all
    int main_gpu = 0;
    bool no_mmap = false; // read the weights into memory (huge pages where allowed) instead of mapping

    void apply(corvid_model_params &p) const {
        p.n_gpu_layers = gpu_layers;
        p.main_gpu = main_gpu;
        p.use_mmap = !no_mmap;
    }
};

inline void add_gpu_options(CLI::App *cmd, GpuOptions *o) {
    cmd->add_option("--gpu-layers,--n-gpu-layers", o->gpu_layers,
                    "Layers to run on the GPU, counted from the last (-1 = all, 0 = CPU only; also -ngl)")
        ->capture_default_str();
    cmd->add_option("--main-gpu", o->main_gpu, "The GPU to use (also -mg)")->capture_default_str();
    cmd->add_flag("--no-mmap", o->no_mmap,
                  "Read the weights into memory instead of mapping the file: slower to load, faster to decode "
                  "where 4 KiB pages are costly (virtual machines)");
}

} // namespace corvid::cli
