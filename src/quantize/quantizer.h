// Quantizing a GGUF model file into another (what `corvid quantize` and
// corvid_model_quantize do), the way llama.cpp's llama-quantize does it:
//
//   * metadata: every key kept in order, then general.quantization_version = 2 and
//     general.file_type = the target's llama_ftype moved to the end (llama.cpp removes and
//     re-appends them), split.* keys dropped; alignment kept;
//   * tensors: in llama.cpp's order (non-layer tensors, then layer by layer, by name; see
//     recipe.h) unless keep_tensor_order; each one's type from the Recipe; tensors that
//     keep their type are copied byte for byte, the others converted row by row through
//     float32 with the reference quantizers (bit-identical to ggml's without an imatrix);
//   * streaming: one tensor in memory at a time, rows in parallel (OpenMP); the output
//     appears under its name only when complete (GgufWriter writes a temporary and renames).
//
// With the same input, Q4_0 .. Q8_0 (and the K/IQ4 mixes, whose recipes are llama.cpp's)
// produce a file byte-identical to llama.cpp's.
#pragma once

#include "gguf/gguf_file.h"
#include "quantize/imatrix.h"
#include "quantize/recipe.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace corvid::quant {

struct Progress {
    size_t index = 0;     // of the tensor just written, in output order
    size_t n_tensors = 0;
    const std::string *name = nullptr;
    DType src_type = DType::F32, dst_type = DType::F32;
    uint64_t src_bytes = 0, dst_bytes = 0;
    uint64_t elements_done = 0, elements_total = 0; // of the tensors that are converted
    double elapsed = 0;                             // seconds since the start
};

// Return false to cancel (the call then fails with Status::io and writes nothing).
using ProgressFn = std::function<bool(const Progress &)>;

struct QuantizeOptions {
    RecipeOptions recipe;
    int n_threads = 0; // <= 0: OpenMP's default (all cores)
    bool allow_requantize = false;
    bool keep_tensor_order = false;
    ProgressFn progress;
    // An importance matrix (load_imatrix): weights the quantizers' errors per column
    // (quantize_row_imatrix), switches on the recipes' imatrix rules (recipe.has_imatrix
    // is set from it), and adds llama-quantize's quantize.imatrix.* keys to the output
    // (the file key holds imatrix_label, or imatrix->path when that is empty).
    std::shared_ptr<const Imatrix> imatrix;
    std::string imatrix_label;
};

struct PlannedTensor {
    size_t src_index = 0;   // in the input's tensor list
    std::string name;
    DType src_type = DType::F32, dst_type = DType::F32;
    bool convert = false;   // src_type != dst_type
    std::string note;       // fallback / override note (also logged as a warning)
    // The importance matrix's values for this tensor (n_experts * row length), or nullptr.
    const std::vector<float> *importance = nullptr;
};

struct Plan {
    ModelFacts facts;
    std::vector<PlannedTensor> tensors; // in output order
    int n_fallback = 0;
    int n_requantized = 0;
    int n_importance = 0;   // converted tensors that have importance values
    std::vector<std::string> no_importance; // converted tensors the matrix has no entry for
};

struct Stats {
    uint64_t n_tensors = 0, n_converted = 0, n_fallback = 0, n_elements = 0;
    uint64_t src_tensor_bytes = 0, dst_tensor_bytes = 0;
    uint64_t src_file_bytes = 0, dst_file_bytes = 0;
    double seconds = 0;
};

// Reads the facts the recipes use from the metadata (names the key when one is malformed).
ModelFacts read_model_facts(const gguf::GgufFile &f);

// Decides every tensor's type and checks that the conversion can be done (source type
// readable, requantization allowed, target type writable, rows whole blocks, importance
// matrix entries of the right size). Throws Error: unsupported / invalid_argument /
// format (an imatrix entry whose size does not match its tensor), naming the tensor.
Plan make_plan(const gguf::GgufFile &f, const QuantizeOptions &options);

// Quantizes `in` into `out`. Throws Error (io, format, unsupported, invalid_argument).
Stats quantize_file(const std::string &in, const std::string &out, const QuantizeOptions &options);

} // namespace corvid::quant
