// Quantization in the C API: corvid_model_quantize and the file-type names.
#include "api/api_guard.h"
#include "quantize/quantizer.h"

#include <cinttypes>

using namespace corvid;

namespace {

static_assert(static_cast<int>(quant::FType::MOSTLY_Q4_K_M) == CORVID_FTYPE_MOSTLY_Q4_K_M, "ftype values");
static_assert(static_cast<int>(quant::FType::MOSTLY_BF16) == CORVID_FTYPE_MOSTLY_BF16, "ftype values");

DType checked_type(int32_t t, const char *what) {
    const auto tr = t >= 0 ? dtype_traits(static_cast<uint32_t>(t)) : std::nullopt;
    if (!tr) fail(Status::invalid_argument, "%s: %d is not a tensor type", what, static_cast<int>(t));
    return tr->type;
}

} // namespace

extern "C" {

const char *corvid_ftype_name(int32_t ftype) {
    const quant::FTypeInfo *f = quant::ftype_info(ftype);
    return f ? f->name : nullptr;
}

corvid_status corvid_ftype_from_name(const char *name, corvid_ftype *out_ftype) {
    return api::guarded([&] {
        if (!name) fail(Status::invalid_argument, "name must not be NULL");
        if (!out_ftype) fail(Status::invalid_argument, "out_ftype must not be NULL");
        const auto f = quant::ftype_from_name(name);
        if (!f)
            fail(Status::invalid_argument, "unknown quantization type '%s'; valid types: %s", name,
                 quant::ftype_names().c_str());
        *out_ftype = static_cast<corvid_ftype>(*f);
    });
}

corvid_quantize_params corvid_quantize_default_params(void) {
    corvid_quantize_params p;
    p.ftype = CORVID_FTYPE_MOSTLY_Q8_0;
    p.n_threads = 0;
    p.allow_requantize = false;
    p.pure = false;
    p.keep_tensor_order = false;
    p.output_tensor_type = -1;
    p.token_embedding_type = -1;
    p.tensor_types = nullptr;
    p.n_tensor_types = 0;
    p.imatrix_path = nullptr;
    p.progress_callback = nullptr;
    p.progress_user_data = nullptr;
    return p;
}

corvid_status corvid_model_quantize(const char *input_path, const char *output_path,
                                    const corvid_quantize_params *params, corvid_quantize_stats *out_stats) {
    return api::guarded([&] {
        if (!input_path) fail(Status::invalid_argument, "input_path must not be NULL");
        if (!output_path) fail(Status::invalid_argument, "output_path must not be NULL");
        const corvid_quantize_params p = params ? *params : corvid_quantize_default_params();
        if (!quant::ftype_info(static_cast<int32_t>(p.ftype)))
            fail(Status::invalid_argument, "ftype %d is not a type Corvid can quantize to (valid: %s)",
                 static_cast<int>(p.ftype), quant::ftype_names().c_str());

        quant::QuantizeOptions o;
        o.recipe.ftype = static_cast<quant::FType>(p.ftype);
        o.recipe.pure = p.pure;
        if (p.output_tensor_type >= 0) o.recipe.output_tensor_type = checked_type(p.output_tensor_type, "output_tensor_type");
        if (p.token_embedding_type >= 0)
            o.recipe.token_embedding_type = checked_type(p.token_embedding_type, "token_embedding_type");
        if (p.n_tensor_types && !p.tensor_types) fail(Status::invalid_argument, "tensor_types must not be NULL");
        for (size_t i = 0; i < p.n_tensor_types; ++i) {
            const corvid_quantize_tensor_type &tt = p.tensor_types[i];
            if (!tt.pattern || !*tt.pattern) fail(Status::invalid_argument, "tensor_types[%zu]: empty pattern", i);
            quant::TensorTypeOverride ov;
            ov.pattern = tt.pattern;
            try {
                ov.re = std::regex(tt.pattern);
            } catch (const std::regex_error &e) {
                fail(Status::invalid_argument, "tensor_types[%zu]: '%s' is not a valid regular expression: %s", i,
                     tt.pattern, e.what());
            }
            ov.type = checked_type(static_cast<int32_t>(tt.type), "tensor_types");
            if (!traits(ov.type).has_reference)
                fail(Status::unsupported, "tensor_types[%zu] ('%s'): Corvid cannot quantize to %s", i, tt.pattern,
                     dtype_name(ov.type));
            o.recipe.overrides.push_back(std::move(ov));
        }
        if (p.imatrix_path) {
            if (!*p.imatrix_path) fail(Status::invalid_argument, "imatrix_path is empty (NULL means no imatrix)");
            o.imatrix = std::make_shared<const quant::Imatrix>(quant::load_imatrix(p.imatrix_path));
            o.imatrix_label = p.imatrix_path;
        }
        o.n_threads = p.n_threads;
        o.allow_requantize = p.allow_requantize;
        o.keep_tensor_order = p.keep_tensor_order;
        if (p.progress_callback) {
            o.progress = [&p](const quant::Progress &q) {
                corvid_quantize_progress c;
                c.tensor_index = q.index;
                c.n_tensors = q.n_tensors;
                c.name = q.name->c_str();
                c.src_type = static_cast<corvid_type>(q.src_type);
                c.dst_type = static_cast<corvid_type>(q.dst_type);
                c.src_bytes = q.src_bytes;
                c.dst_bytes = q.dst_bytes;
                c.n_elements_done = q.elements_done;
                c.n_elements_total = q.elements_total;
                c.elapsed_seconds = q.elapsed;
                return p.progress_callback(&c, p.progress_user_data);
            };
        }
        const quant::Stats s = quant::quantize_file(input_path, output_path, o);
        if (out_stats) {
            out_stats->n_tensors = s.n_tensors;
            out_stats->n_converted = s.n_converted;
            out_stats->n_fallback = s.n_fallback;
            out_stats->n_elements = s.n_elements;
            out_stats->src_tensor_bytes = s.src_tensor_bytes;
            out_stats->dst_tensor_bytes = s.dst_tensor_bytes;
            out_stats->src_file_bytes = s.src_file_bytes;
            out_stats->dst_file_bytes = s.dst_file_bytes;
            out_stats->seconds = s.seconds;
        }
    });
}

} // extern "C"
