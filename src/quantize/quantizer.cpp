// quantizer.h: plan the per-tensor types, then stream the output file tensor by tensor.
#include "quantize/quantizer.h"

#include "gguf/gguf_writer.h"
#include "tensor/quants.h"
#include "util/error.h"
#include "util/log.h"

#include <omp.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstring>
#include <sys/stat.h>

namespace corvid::quant {
namespace {

constexpr uint32_t kQuantizationVersion = 2; // ggml's GGML_QNT_VERSION

int64_t meta_int(const gguf::GgufFile &f, const std::string &key, int64_t def) {
    const gguf::Value *v = f.find(key);
    if (!v) return def;
    if (v->type() == gguf::ValueType::ARRAY) {
        // Per-layer values (e.g. head_count_kv of hybrid models): llama.cpp's n_gqa() reads layer 0.
        if (v->array_size() == 0) return def;
        if (auto x = v->int_at(0)) return *x;
    } else if (auto x = v->as_int()) {
        return *x;
    }
    fail(Status::format, "%s: key '%s' should hold an integer", f.path().c_str(), key.c_str());
}

bool can_read_as_float(DType t) { return traits(t).has_reference; }

// The dimensions GGUF writers record: up to the last one larger than 1 (ggml_n_dims).
std::vector<int64_t> dims_of(const gguf::TensorInfo &t) {
    const int n = effective_dims(t.ne);
    return std::vector<int64_t>(t.ne, t.ne + n);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

ModelFacts read_model_facts(const gguf::GgufFile &f) {
    ModelFacts m;
    if (const gguf::Value *a = f.find("general.architecture"); a && a->as_string()) m.arch = *a->as_string();
    const std::string p = m.arch + ".";
    m.n_layer = meta_int(f, p + "block_count", 0);
    m.n_head = meta_int(f, p + "attention.head_count", 0);
    m.n_head_kv = meta_int(f, p + "attention.head_count_kv", m.n_head);
    m.n_expert = meta_int(f, p + "expert_count", 0);
    // llama.cpp's LLM_TYPE_70B (llama, 80 layers, grouped-query attention, not an 8-expert MoE).
    m.is_70b = m.arch == "llama" && m.n_layer == 80 && m.n_expert != 8 && m.n_head != m.n_head_kv;
    return m;
}

Plan make_plan(const gguf::GgufFile &f, const QuantizeOptions &o) {
    Plan plan;
    plan.facts = read_model_facts(f);
    if (const gguf::Value *v = f.find("split.count"); v && v->as_int().value_or(1) > 1)
        fail(Status::unsupported, "%s: the model is split over %" PRId64 " files; merge it first (llama-gguf-split "
             "--merge)", f.path().c_str(), *v->as_int());

    const auto &tensors = f.tensors();
    std::vector<std::string> names;
    names.reserve(tensors.size());
    for (const auto &t : tensors) names.push_back(t.name);

    std::vector<size_t> order = llama_order(names);
    RecipeOptions ro = o.recipe;
    ro.has_imatrix = o.imatrix != nullptr;
    Recipe recipe(plan.facts, ro, names);
    std::vector<PlannedTensor> planned(tensors.size());
    // Types are chosen in llama.cpp's order (the mixes count attention-V tensors as they go).
    for (size_t i : order) {
        const gguf::TensorInfo &t = tensors[i];
        const TensorChoice c = recipe.choose(t.name, t.type, t.ne);
        PlannedTensor &p = planned[i];
        p.src_index = i;
        p.name = t.name;
        p.src_type = t.type;
        p.dst_type = c.type;
        p.convert = c.type != t.type;
        p.note = c.note;
    }
    plan.n_fallback = recipe.n_fallback();
    if (!o.keep_tensor_order) {
        for (size_t i : order) plan.tensors.push_back(std::move(planned[i]));
    } else {
        plan.tensors = std::move(planned);
    }

    // Check every conversion before anything is written.
    for (const PlannedTensor &p : plan.tensors) {
        if (!p.convert) continue;
        const gguf::TensorInfo &t = tensors[p.src_index];
        if (is_quantized(p.src_type)) {
            if (!o.allow_requantize)
                fail(Status::unsupported, "%s: tensor '%s' is already %s; converting it to %s would requantize "
                     "(quality loss: quantize from the F32/F16/BF16 original, or allow requantizing with "
                     "--allow-requantize)", f.path().c_str(), p.name.c_str(), dtype_name(p.src_type),
                     dtype_name(p.dst_type));
            ++plan.n_requantized;
        }
        if (!can_read_as_float(p.src_type))
            fail(Status::unsupported, "%s: tensor '%s' is %s, which Corvid cannot convert to float", f.path().c_str(),
                 p.name.c_str(), dtype_name(p.src_type));
        if (!traits(p.dst_type).has_reference)
            fail(Status::unsupported, "tensor '%s': Corvid cannot quantize to %s", p.name.c_str(),
                 dtype_name(p.dst_type));
        if (!dtype_row_bytes(p.dst_type, static_cast<uint64_t>(t.ne[0])))
            fail(Status::invalid_argument, "tensor '%s': rows of %" PRId64 " elements are not whole %s blocks of %u",
                 p.name.c_str(), t.ne[0], dtype_name(p.dst_type), traits(p.dst_type).block_size);
    }

    // Importance values, looked up as llama.cpp does for every converted tensor: one value
    // per column of each expert slice (ne[0] * ne[2]). A size mismatch is an error (the
    // matrix belongs to another model), except for token_embd.weight, which llama.cpp
    // lets through without weights.
    if (o.imatrix) {
        for (PlannedTensor &p : plan.tensors) {
            if (!p.convert) continue;
            const gguf::TensorInfo &t = tensors[p.src_index];
            const std::vector<float> *v = o.imatrix->find(p.name);
            if (!v) {
                plan.no_importance.push_back(p.name);
                continue;
            }
            const uint64_t want = static_cast<uint64_t>(t.ne[0]) * static_cast<uint64_t>(t.ne[2]);
            if (v->size() != want) {
                if (p.name == "token_embd.weight") {
                    log(LogLevel::warn, "quantize: %s: importance matrix entry for '%s' has %zu values, the tensor needs "
                        "%" PRIu64 "; quantizing it without", o.imatrix->path.c_str(), p.name.c_str(), v->size(), want);
                    continue;
                }
                fail(Status::format, "%s: importance matrix entry for '%s' has %zu values but the tensor has rows of "
                     "%" PRId64 " (x %" PRId64 " experts = %" PRIu64 "): the matrix was made for another model",
                     o.imatrix->path.c_str(), p.name.c_str(), v->size(), t.ne[0], t.ne[2], want);
            }
            p.importance = v;
            ++plan.n_importance;
        }
    }
    return plan;
}

Stats quantize_file(const std::string &in, const std::string &out, const QuantizeOptions &o) {
    const auto t0 = std::chrono::steady_clock::now();
    auto file = gguf::GgufFile::open(in, /*use_mmap=*/true);
    const Plan plan = make_plan(*file, o);
    const auto &src_tensors = file->tensors();

    for (const PlannedTensor &p : plan.tensors)
        if (!p.note.empty()) log(LogLevel::warn, "quantize: %s", p.note.c_str());
    if (plan.n_requantized > 0)
        log(LogLevel::warn, "quantize: requantizing %d tensor(s) that are already quantized: the result is worse "
            "than quantizing the original F32/F16/BF16 weights", plan.n_requantized);

    // Metadata as llama.cpp writes it: all keys in order, then the two quantization keys
    // re-appended at the end, split keys dropped.
    gguf::GgufWriter w;
    for (const auto &kv : file->metadata()) w.set(kv.key, kv.value);
    w.remove("general.quantization_version");
    w.set("general.quantization_version", gguf::Value::u32(kQuantizationVersion));
    w.remove("general.file_type");
    w.set("general.file_type", gguf::Value::u32(static_cast<uint32_t>(o.recipe.ftype)));
    for (const char *k : {"split.no", "split.count", "split.tensors.count"}) w.remove(k);
    if (o.imatrix) {
        // What llama-quantize adds when given an imatrix (as key-value overrides, appended
        // in this order; strings cut to 127 bytes, integers as u32).
        auto cut = [](const std::string &v) { return v.size() > 127 ? v.substr(0, 127) : v; };
        const Imatrix &m = *o.imatrix;
        for (const char *k : {"quantize.imatrix.file", "quantize.imatrix.dataset", "quantize.imatrix.entries_count",
                              "quantize.imatrix.chunks_count"})
            w.remove(k); // gguf's set_val removes and re-appends
        w.set("quantize.imatrix.file", gguf::Value::string(cut(o.imatrix_label.empty() ? m.path : o.imatrix_label)));
        if (!m.datasets.empty()) w.set("quantize.imatrix.dataset", gguf::Value::string(cut(m.datasets[0])));
        w.set("quantize.imatrix.entries_count", gguf::Value::u32(static_cast<uint32_t>(m.entries.size())));
        if (m.chunk_count > 0)
            w.set("quantize.imatrix.chunks_count", gguf::Value::u32(static_cast<uint32_t>(m.chunk_count)));
        for (const std::string &n : plan.no_importance)
            log(LogLevel::info, "quantize: the importance matrix has no entry for '%s'; quantizing it without",
                n.c_str());
        log(LogLevel::info, "quantize: importance matrix %s: %zu entries, used for %d of the converted tensors",
            m.path.c_str(), m.entries.size(), plan.n_importance);
    }

    Stats st;
    uint64_t elements_total = 0;
    for (const PlannedTensor &p : plan.tensors) {
        const gguf::TensorInfo &t = src_tensors[p.src_index];
        w.add_tensor(p.name, p.dst_type, dims_of(t));
        if (p.convert) elements_total += static_cast<uint64_t>(t.n_elements());
        st.n_elements += static_cast<uint64_t>(t.n_elements());
        st.src_tensor_bytes += t.n_bytes;
        st.n_converted += p.convert;
    }
    st.n_tensors = plan.tensors.size();
    st.n_fallback = static_cast<uint64_t>(plan.n_fallback);
    st.src_file_bytes = file->file_size();

    const int n_threads = o.n_threads > 0 ? o.n_threads : omp_get_max_threads();
    std::vector<uint8_t> read_buf; // used when the input is not mapped
    uint64_t elements_done = 0;

    w.write(out, [&](size_t index, const gguf::TensorInfo &info, uint8_t *dst) {
        const PlannedTensor &p = plan.tensors[index];
        const gguf::TensorInfo &t = src_tensors[p.src_index];
        const uint8_t *src = file->tensor_data(t);
        if (!src) {
            read_buf.resize(t.n_bytes);
            file->read_tensor_data(t, read_buf.data());
            src = read_buf.data();
        }
        if (!p.convert) {
            std::memcpy(dst, src, info.n_bytes);
        } else {
            const int64_t ne0 = t.ne[0];
            const int64_t n_rows = ne0 > 0 ? t.n_elements() / ne0 : 0;
            const uint64_t src_row = *dtype_row_bytes(p.src_type, static_cast<uint64_t>(ne0));
            const uint64_t dst_row = *dtype_row_bytes(p.dst_type, static_cast<uint64_t>(ne0));
            std::atomic<int64_t> bad_row{INT64_MAX};
            const bool threads = n_threads > 1 && t.n_elements() >= (1 << 16);
#pragma omp parallel num_threads(n_threads) if (threads)
            {
                std::vector<float> row(static_cast<size_t>(ne0));
#pragma omp for schedule(dynamic, 8)
                for (int64_t r = 0; r < n_rows; ++r) {
                    // Cannot fail: make_plan checked both types and the row length.
                    dequantize_row(p.src_type, src + static_cast<uint64_t>(r) * src_row, row.data(), ne0);
                    bool finite = true;
                    for (int64_t k = 0; k < ne0; ++k) finite &= std::isfinite(row[static_cast<size_t>(k)]);
                    if (!finite) {
                        int64_t cur = bad_row.load();
                        while (r < cur && !bad_row.compare_exchange_weak(cur, r)) {
                        }
                        continue;
                    }
                    // Importance values of this row's expert slice (rows of expert e are e*ne1 ..).
                    const float *imp = nullptr;
                    if (p.importance)
                        imp = p.importance->data() + ((r / t.ne[1]) % t.ne[2]) * ne0;
                    quantize_row_imatrix(p.dst_type, row.data(), dst + static_cast<uint64_t>(r) * dst_row, ne0, imp);
                }
            }
            if (bad_row.load() != INT64_MAX)
                fail(Status::format, "%s: tensor '%s' row %" PRId64 " holds a NaN or an infinity; it cannot be "
                     "converted to %s", in.c_str(), p.name.c_str(), bad_row.load(), dtype_name(p.dst_type));
            elements_done += static_cast<uint64_t>(t.n_elements());
        }
        st.dst_tensor_bytes += info.n_bytes;
        if (o.progress) {
            Progress pr;
            pr.index = index;
            pr.n_tensors = plan.tensors.size();
            pr.name = &p.name;
            pr.src_type = p.src_type;
            pr.dst_type = p.dst_type;
            pr.src_bytes = t.n_bytes;
            pr.dst_bytes = info.n_bytes;
            pr.elements_done = elements_done;
            pr.elements_total = elements_total;
            pr.elapsed = seconds_since(t0);
            if (!o.progress(pr)) fail(Status::io, "%s: quantization was cancelled", out.c_str());
        }
    });

    struct stat sb;
    if (::stat(out.c_str(), &sb) == 0) st.dst_file_bytes = static_cast<uint64_t>(sb.st_size);
    st.seconds = seconds_since(t0);
    return st;
}

} // namespace corvid::quant
