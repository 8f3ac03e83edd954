// Model handles in the C API: open/close a GGUF file and query its metadata and tensors.
#include "api/api_guard.h"
#include "api/api_handles.h"
#include "gguf/gguf_file.h"

#include <cinttypes>
#include <cstring>
#include <mutex>

using namespace corvid;

namespace {

void require(bool ok, const char *what) {
    if (!ok) fail(Status::invalid_argument, "%s must not be NULL", what);
}

const gguf::Value &find_value(const corvid_model *m, const char *key) {
    require(m, "model");
    require(key, "key");
    const gguf::Value *v = m->file().find(key);
    if (!v) fail(Status::not_found, "%s: no metadata key '%s'", m->file().path().c_str(), key);
    return *v;
}

[[noreturn]] void mismatch(const corvid_model *m, const char *key, const gguf::Value &v, const char *wanted) {
    fail(Status::type_mismatch, "%s: key '%s' holds %s%s%s, not %s", m->file().path().c_str(), key,
         gguf::value_type_name(v.type()), v.type() == gguf::ValueType::ARRAY ? " of " : "",
         v.type() == gguf::ValueType::ARRAY ? gguf::value_type_name(v.elem_type()) : "", wanted);
}

const gguf::Value &find_array(const corvid_model *m, const char *key, uint64_t index) {
    const gguf::Value &v = find_value(m, key);
    if (v.type() != gguf::ValueType::ARRAY) mismatch(m, key, v, "an array");
    if (index >= v.array_size())
        fail(Status::invalid_argument, "%s: key '%s': index %" PRIu64 " is out of range (the array has %" PRIu64
             " elements)", m->file().path().c_str(), key, index, v.array_size());
    return v;
}

int64_t arch_int(const corvid_model *m, const char *suffix) {
    if (!m || m->architecture.empty()) return -1;
    const gguf::Value *v = m->file().find(m->architecture + "." + suffix);
    if (!v) return -1;
    return v->as_int().value_or(-1);
}

} // namespace

extern "C" {

corvid_model_params corvid_model_default_params(void) {
    corvid_model_params p;
    p.use_mmap = true;
    p.load_mode = CORVID_LOAD_FULL;
    p.progress_callback = nullptr;
    p.progress_user_data = nullptr;
    p.n_gpu_layers = -1;
    p.main_gpu = 0;
    return p;
}

corvid_status corvid_model_open(const char *path, const corvid_model_params *params, corvid_model **out_model) {
    if (out_model) *out_model = nullptr;
    return api::guarded([&] {
        require(path, "path");
        require(out_model, "out_model");
        const corvid_model_params p = params ? *params : corvid_model_default_params();
        auto m = std::make_unique<corvid_model>();
        LoadMode mode;
        switch (p.load_mode) {
        case CORVID_LOAD_FULL: mode = LoadMode::full; break;
        case CORVID_LOAD_VOCAB_ONLY: mode = LoadMode::vocab; break;
        case CORVID_LOAD_METADATA_ONLY: mode = LoadMode::metadata; break;
        default: fail(Status::invalid_argument, "load_mode %d is not a corvid_load_mode", static_cast<int>(p.load_mode));
        }
        ProgressFn progress;
        if (p.progress_callback)
            progress = [&p](float f) { return p.progress_callback(f, p.progress_user_data); };
        OffloadParams offload;
        offload.n_gpu_layers = p.n_gpu_layers;
        offload.main_gpu = p.main_gpu;
        m->model = Model::load(path, mode, p.use_mmap, progress, offload);
        for (const auto &t : m->file().tensors()) m->n_params += static_cast<uint64_t>(t.n_elements());
        if (const gguf::Value *a = m->file().find("general.architecture"); a && a->as_string())
            m->architecture = *a->as_string();
        if (const gguf::Value *n = m->file().find("general.name"); n && n->as_string()) m->name = *n->as_string();
        *out_model = m.release();
    });
}

void corvid_model_close(corvid_model *model) { delete model; }

uint32_t corvid_model_gguf_version(const corvid_model *m) { return m ? m->file().version() : 0; }
uint64_t corvid_model_file_size(const corvid_model *m) { return m ? m->file().file_size() : 0; }
uint32_t corvid_model_alignment(const corvid_model *m) { return m ? m->file().alignment() : 0; }
uint64_t corvid_model_data_offset(const corvid_model *m) { return m ? m->file().data_offset() : 0; }
const char *corvid_model_architecture(const corvid_model *m) { return m ? m->architecture.c_str() : ""; }
const char *corvid_model_name(const corvid_model *m) { return m ? m->name.c_str() : ""; }
int64_t corvid_model_n_layers(const corvid_model *m) { return arch_int(m, "block_count"); }
int64_t corvid_model_n_embd(const corvid_model *m) { return arch_int(m, "embedding_length"); }
int64_t corvid_model_n_ctx_train(const corvid_model *m) { return arch_int(m, "context_length"); }

const char *corvid_model_backend(const corvid_model *m) {
    if (!m) return "";
    const Backend *d = m->model->placement().device;
    return d ? d->name() : "CPU";
}

int32_t corvid_model_n_gpu_layers(const corvid_model *m) { return m ? m->model->placement().n_device_layers() : 0; }

corvid_status corvid_model_gpu_bandwidth(const corvid_model *m, size_t probe_bytes, double *out) {
    return api::guarded([&] {
        require(m, "model");
        require(out, "out_bytes_per_s");
        *out = 0;
        Backend *d = m->model->placement().device;
        if (!d) fail(Status::unsupported, "the model runs on the CPU: there is no GPU memory to measure");
        std::lock_guard<std::mutex> lock(m->model->device_mutex());
        const double bw = d->measure_read_bandwidth(probe_bytes);
        if (!(bw > 0)) fail(Status::unsupported, "%s cannot measure its memory bandwidth", d->name());
        *out = bw;
    });
}

int64_t corvid_model_n_vocab(const corvid_model *m) {
    if (!m) return -1;
    const gguf::Value *v = m->file().find("tokenizer.ggml.tokens");
    if (!v || v->type() != gguf::ValueType::ARRAY) return -1;
    return static_cast<int64_t>(v->array_size());
}

int64_t corvid_model_n_tensors(const corvid_model *m) {
    return m ? static_cast<int64_t>(m->file().tensors().size()) : 0;
}

uint64_t corvid_model_n_params(const corvid_model *m) { return m ? m->n_params : 0; }

const char *corvid_value_type_name(corvid_value_type type) {
    return gguf::value_type_name(static_cast<gguf::ValueType>(type));
}

int64_t corvid_model_meta_count(const corvid_model *m) {
    return m ? static_cast<int64_t>(m->file().metadata().size()) : 0;
}

const char *corvid_model_meta_key(const corvid_model *m, int64_t index) {
    if (!m || index < 0 || static_cast<uint64_t>(index) >= m->file().metadata().size()) return nullptr;
    return m->file().metadata()[static_cast<size_t>(index)].key.c_str();
}

corvid_status corvid_model_meta_type(const corvid_model *m, const char *key, corvid_value_type *out_type,
                                     corvid_value_type *out_elem_type, uint64_t *out_array_len) {
    return api::guarded([&] {
        const gguf::Value &v = find_value(m, key);
        if (out_type) *out_type = static_cast<corvid_value_type>(v.type());
        if (out_elem_type && v.type() == gguf::ValueType::ARRAY)
            *out_elem_type = static_cast<corvid_value_type>(v.elem_type());
        if (out_array_len) *out_array_len = v.array_size();
    });
}

corvid_status corvid_model_meta_int(const corvid_model *m, const char *key, int64_t *out) {
    return api::guarded([&] {
        require(out, "out");
        const gguf::Value &v = find_value(m, key);
        const auto x = v.as_int();
        if (!x) mismatch(m, key, v, "an integer that fits in int64");
        *out = *x;
    });
}

corvid_status corvid_model_meta_float(const corvid_model *m, const char *key, double *out) {
    return api::guarded([&] {
        require(out, "out");
        const gguf::Value &v = find_value(m, key);
        const auto x = v.as_float();
        if (!x) mismatch(m, key, v, "a float");
        *out = *x;
    });
}

corvid_status corvid_model_meta_bool(const corvid_model *m, const char *key, bool *out) {
    return api::guarded([&] {
        require(out, "out");
        const gguf::Value &v = find_value(m, key);
        const auto x = v.as_bool();
        if (!x) mismatch(m, key, v, "a bool");
        *out = *x;
    });
}

corvid_status corvid_model_meta_string(const corvid_model *m, const char *key, const char **out, size_t *out_len) {
    return api::guarded([&] {
        require(out, "out");
        const gguf::Value &v = find_value(m, key);
        const std::string *s = v.as_string();
        if (!s) mismatch(m, key, v, "a string");
        *out = s->c_str();
        if (out_len) *out_len = s->size();
    });
}

corvid_status corvid_model_meta_array_int(const corvid_model *m, const char *key, uint64_t index, int64_t *out) {
    return api::guarded([&] {
        require(out, "out");
        const gguf::Value &v = find_array(m, key, index);
        const auto x = v.int_at(index);
        if (!x) mismatch(m, key, v, "an array of integers that fit in int64");
        *out = *x;
    });
}

corvid_status corvid_model_meta_array_float(const corvid_model *m, const char *key, uint64_t index, double *out) {
    return api::guarded([&] {
        require(out, "out");
        const gguf::Value &v = find_array(m, key, index);
        const auto x = v.float_at(index);
        if (!x) mismatch(m, key, v, "an array of floats");
        *out = *x;
    });
}

corvid_status corvid_model_meta_array_string(const corvid_model *m, const char *key, uint64_t index,
                                             const char **out, size_t *out_len) {
    return api::guarded([&] {
        require(out, "out");
        const gguf::Value &v = find_array(m, key, index);
        const std::string *s = v.string_at(index);
        if (!s) mismatch(m, key, v, "an array of strings");
        *out = s->c_str();
        if (out_len) *out_len = s->size();
    });
}

int64_t corvid_model_meta_format(const corvid_model *m, const char *key, char *buf, size_t size, size_t max_items) {
    int64_t len = -1;
    const corvid_status st = api::guarded([&] {
        if (!buf && size > 0) fail(Status::invalid_argument, "buf must not be NULL when size > 0");
        const std::string text = find_value(m, key).to_string(max_items);
        if (size > 0) {
            const size_t n = text.size() < size - 1 ? text.size() : size - 1;
            std::memcpy(buf, text.data(), n);
            buf[n] = '\0';
        }
        len = static_cast<int64_t>(text.size());
    });
    return st == CORVID_OK ? len : -1;
}

corvid_status corvid_model_tensor_info(const corvid_model *m, int64_t index, corvid_tensor_info *out) {
    return api::guarded([&] {
        require(m, "model");
        require(out, "out");
        const auto &ts = m->file().tensors();
        if (index < 0 || static_cast<uint64_t>(index) >= ts.size())
            fail(Status::invalid_argument, "tensor index %" PRId64 " is out of range (the model has %zu tensors)",
                 index, ts.size());
        const gguf::TensorInfo &t = ts[static_cast<size_t>(index)];
        out->name = t.name.c_str();
        out->type = static_cast<uint32_t>(t.type);
        out->n_dims = t.n_dims;
        for (int d = 0; d < 4; ++d) out->ne[d] = t.ne[d];
        out->file_offset = m->file().data_offset() + t.offset;
        out->n_bytes = t.n_bytes;
        out->n_elements = static_cast<uint64_t>(t.n_elements());
    });
}

int64_t corvid_model_find_tensor(const corvid_model *m, const char *name) {
    if (!m || !name) return -1;
    return m->file().tensor_index(name);
}

} // extern "C"
