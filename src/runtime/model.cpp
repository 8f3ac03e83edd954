#include "runtime/model.h"

#include "util/error.h"
#include "vocab/vocab.h"

namespace corvid {

Model::~Model() = default;

std::unique_ptr<Model> Model::load(const std::string &path, LoadMode mode, bool use_mmap, const ProgressFn &progress) {
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
    m->weights_ = std::make_unique<WeightStore>(*m->file_, [&](float f) { report(0.05f + 0.9f * f); });
    m->arch_ = load_architecture(*m->file_, *m->weights_);
    if (m->vocab_ && m->vocab_->n_tokens() != m->arch_->hparams().n_vocab)
        fail(Status::format, "%s: the vocabulary has %d tokens but token_embd.weight has %lld rows", path.c_str(),
             m->vocab_->n_tokens(), static_cast<long long>(m->arch_->hparams().n_vocab));
    report(1.0f);
    return m;
}

} // namespace corvid
