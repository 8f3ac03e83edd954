#include "runtime/model.h"

#include "cpu/cpu_panels.h"

#include "util/error.h"
#include "util/log.h"
#include "vocab/vocab.h"

#if defined(CORVID_HAS_CUDA) && __has_include("cuda/cuda_backend.h")
#include "cuda/cuda_backend.h"
#define CORVID_CUDA_AVAILABLE 1
#endif

namespace corvid {

Model::~Model() = default;

namespace {

// The default device: the CUDA device asked for when there is one, else none.
std::unique_ptr<Backend> default_device(const OffloadParams &p) {
#ifdef CORVID_CUDA_AVAILABLE
    const int n = cuda_device_count();
    if (p.main_gpu >= 0 && p.main_gpu < n) return make_cuda_backend(p.main_gpu);
    if (n > 0) fail(Status::invalid_argument, "main_gpu %d: the machine has %d CUDA device(s)", p.main_gpu, n);
#else
    (void)p;
#endif
    return nullptr;
}

} // namespace

std::unique_ptr<Model> Model::load(const std::string &path, LoadMode mode, bool use_mmap, const ProgressFn &progress,
                                   const OffloadParams &offload) {
    auto report = [&](float f) {
        if (progress && !progress(f)) fail(Status::io, "%s: loading was cancelled", path.c_str());
    };
    report(0.0f);
    std::unique_ptr<Model> m(new Model());
    m->mode_ = mode;
    m->file_ = gguf::GgufFile::open(path, use_mmap);
    if (mode == LoadMode::metadata) return m;
    if (m->file_->find("tokenizer.ggml.tokens")) m->vocab_ = Vocab::from_gguf(*m->file_);
    else if (mode == LoadMode::vocab)
        fail(Status::format, "%s: the file has no vocabulary (tokenizer.ggml.tokens)", path.c_str());
    if (mode == LoadMode::vocab) return m;

    for (const auto &t : m->file_->tensors())
        if (!traits(t.type).has_reference)
            fail(Status::unsupported, "%s: tensor '%s' has type %s, which Corvid cannot compute with yet",
                 path.c_str(), t.name.c_str(), dtype_name(t.type));
    m->weights_ = std::make_unique<WeightStore>(*m->file_, [&](float f) { report(0.05f + 0.6f * f); });
    m->arch_ = load_architecture(*m->file_, *m->weights_);
    if (offload.n_gpu_layers != 0) {
        m->device_ = offload.make_device ? offload.make_device() : default_device(offload);
        if (!m->device_ && offload.n_gpu_layers > 0)
            log(LogLevel::warn, "%s: n_gpu_layers = %d but no GPU device is available: running on the CPU", path.c_str(),
                     offload.n_gpu_layers);
    }
    const auto n_layer = static_cast<int32_t>(m->arch_->hparams().n_layer);
    m->placement_ = LayerPlacement::from_gpu_layers(m->device_.get(), n_layer, offload.n_gpu_layers);
    if (m->placement_.device)
        m->device_weights_ = std::make_unique<DeviceWeights>(*m->weights_, m->placement_,
                                                             [&](float f) { report(0.65f + 0.3f * f); });
    // The weights the host computes with, in the CPU's own layout where it has one
    // (cpu_panels.h); the device's copies were made above from the bytes as stored.
    m->weights_->arrange(
        [&](const Tensor &w) { return m->device_copy(w, m->device_.get()) ? 0 : cpu::preferred_weight_layout(w); },
        [](const Tensor &w, const void *src, void *dst) { cpu::pack_panels(w.type, w.ne[0], w.ne[1], src, dst); },
        [&](float f) { report(0.95f + 0.05f * f); });
    if (m->vocab_ && m->vocab_->n_tokens() != m->arch_->hparams().n_vocab)
        fail(Status::format, "%s: the vocabulary has %d tokens but token_embd.weight has %lld rows", path.c_str(),
             m->vocab_->n_tokens(), static_cast<long long>(m->arch_->hparams().n_vocab));
    report(1.0f);
    return m;
}

} // namespace corvid
