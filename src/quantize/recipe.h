// Which type each tensor of a model becomes when it is quantized to a llama.cpp "file type"
// (Q4_K_M, Q8_0, ...). This reproduces the rules of llama.cpp's quantizer (llama-quant.cpp:
// tensor_allows_quantization, llama_tensor_get_type, tensor_type_fallback), so that a file
// quantized by Corvid has the same per-tensor types as one made by llama-quantize from the
// same input. The rules are restated here from their documented behaviour, not copied.
//
// The plan is made over the tensors in llama.cpp's processing order (see llama_order()):
// the mixes count attention-V tensors as they go, so the order matters.
#pragma once

#include "tensor/dtype.h"

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace corvid::quant {

// llama.cpp's enum llama_ftype values (general.file_type), for the targets Corvid makes.
enum class FType : int32_t {
    ALL_F32 = 0,
    MOSTLY_F16 = 1,
    MOSTLY_Q4_0 = 2,
    MOSTLY_Q4_1 = 3,
    MOSTLY_Q8_0 = 7,
    MOSTLY_Q5_0 = 8,
    MOSTLY_Q5_1 = 9,
    MOSTLY_Q2_K = 10,
    MOSTLY_Q3_K_S = 11,
    MOSTLY_Q3_K_M = 12,
    MOSTLY_Q3_K_L = 13,
    MOSTLY_Q4_K_S = 14,
    MOSTLY_Q4_K_M = 15,
    MOSTLY_Q5_K_S = 16,
    MOSTLY_Q5_K_M = 17,
    MOSTLY_Q6_K = 18,
    MOSTLY_IQ4_NL = 25,
    MOSTLY_IQ4_XS = 30,
    MOSTLY_BF16 = 32,
};

struct FTypeInfo {
    FType ftype;
    const char *name;   // "Q4_K_M"
    DType base;         // the type most tensors get
    const char *about;  // one line for --help
};

// Every target Corvid can quantize to, in llama-quantize's listing order.
const std::vector<FTypeInfo> &ftype_table();
// nullptr for a value that is not in the table.
const FTypeInfo *ftype_info(int32_t ftype);
// Case-insensitive; also accepts llama-quantize's aliases Q3_K (= Q3_K_M), Q4_K (= Q4_K_M),
// Q5_K (= Q5_K_M).
std::optional<FType> ftype_from_name(std::string_view name);
// "Q4_0, Q4_1, ..." for error messages.
std::string ftype_names();

// What the recipes need to know about the model (from its metadata).
struct ModelFacts {
    std::string arch;    // general.architecture
    int64_t n_layer = 0; // {arch}.block_count
    int64_t n_head = 0;  // {arch}.attention.head_count (layer 0 when per-layer)
    int64_t n_head_kv = 0;
    int64_t n_expert = 0;
    bool is_70b = false; // llama.cpp's LLM_TYPE_70B: llama, 80 layers, grouped-query attention

    int64_t n_gqa() const { return n_head_kv > 0 ? n_head / n_head_kv : 0; }
};

// Broad tensor roles the recipes distinguish (by name, for every architecture).
enum class Category { token_embd, attn_q, attn_v, attn_k, attn_qkv, attn_kv_b, attn_output, ffn_up, ffn_gate,
                      ffn_down, output, other };

Category categorize(std::string_view name);

// ggml_n_dims: the number of dimensions up to the last one larger than 1 (at least 1).
int effective_dims(const int64_t ne[4]);

// llama.cpp's quantizer touches only weights: tensors of >= 2 effective dimensions whose
// name ends in "weight", except norms, positional/token-type embeddings, MoE routers and
// a list of small architecture-specific matrices.
bool allows_quantization(std::string_view name, const int64_t ne[4], const std::string &arch);

// The order llama.cpp processes (and writes) tensors in: non-layer tensors first, then
// layer by layer ("blk.N."), by name within each group.
std::vector<size_t> llama_order(const std::vector<std::string> &names);

struct TensorTypeOverride {
    std::string pattern; // ECMAScript regex, searched anywhere in the name
    std::regex re;
    DType type;
};

struct RecipeOptions {
    FType ftype = FType::MOSTLY_Q8_0;
    bool pure = false;                        // every quantizable tensor in the base type (fallbacks still apply)
    std::optional<DType> output_tensor_type;  // forces output.weight (and tied token_embd's recipe)
    std::optional<DType> token_embedding_type;
    std::vector<TensorTypeOverride> overrides; // first match wins
    bool has_imatrix = false;                 // an importance matrix is given (changes two ffn_down rules)
};

struct TensorChoice {
    DType type;            // what the tensor becomes (its own type when it is not quantized)
    bool quantizable;      // allows_quantization()
    std::string note;      // non-empty when a fallback or an override changed the type
};

// Stateful like llama.cpp's: call choose() once per tensor, in llama_order().
class Recipe {
public:
    // `names` are all the model's tensor names (any order): they decide whether the
    // embeddings are tied (no output.weight) and how many attention-V tensors there are.
    Recipe(const ModelFacts &facts, RecipeOptions options, const std::vector<std::string> &names);

    TensorChoice choose(const std::string &name, DType current, const int64_t ne[4]);

    int n_fallback() const { return n_fallback_; }
    DType base_type() const { return base_; }

private:
    DType mix_type(const std::string &name, Category cat, DType t, const int64_t ne[4]);
    DType fallback(const std::string &name, int64_t ncols, DType t, std::string &note);

    ModelFacts facts_;
    RecipeOptions opt_;
    DType base_;
    bool tied_embeddings_ = true;
    int n_attention_wv_ = 0, i_attention_wv_ = 0;
    int i_ffn_down_ = 0, i_ffn_gate_ = 0, i_ffn_up_ = 0;
    int n_fallback_ = 0;
};

// True for the block-quantized types (not F32/F16/BF16/integers).
bool is_quantized(DType t);

} // namespace corvid::quant
