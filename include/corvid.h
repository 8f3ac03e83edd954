/*
 * corvid.h — the public C API of Corvid, an embeddable LLM inference runtime.
 *
 * This is the only header an application includes. It is plain C11 and links
 * against libcorvid (shared or static); no C++ type or exception crosses it.
 *
 * Conventions that hold for every function below unless its comment says otherwise:
 *
 *  - Errors. Functions that can fail return a corvid_status. CORVID_OK is 0; any
 *    other value is a failure, and corvid_last_error() then returns a message that
 *    names the cause (the file, key, tensor, and what was expected versus found).
 *    No function aborts, exits, or prints: diagnostics go to the log callback only.
 *  - Ownership. Handles returned through an out-parameter belong to the caller and
 *    are released with the matching close/free function. Strings and structs that a
 *    function returns by pointer belong to the handle they came from and stay valid
 *    until that handle is closed; do not free them.
 *  - Threads. Functions that only read a handle (all the model_* queries) may be
 *    called from several threads at once. Closing a handle must not race with any
 *    other use of it. corvid_last_error() is per thread.
 *  - Arguments. A NULL handle or out-pointer where one is required is reported as
 *    CORVID_ERR_INVALID_ARGUMENT, never dereferenced.
 */
#ifndef CORVID_H
#define CORVID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(CORVID_BUILDING_LIBRARY)
#define CORVID_API __declspec(dllexport)
#elif defined(_WIN32) && defined(CORVID_SHARED)
#define CORVID_API __declspec(dllimport)
#elif defined(__GNUC__)
#define CORVID_API __attribute__((visibility("default")))
#else
#define CORVID_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- version */

#define CORVID_VERSION_MAJOR 0
#define CORVID_VERSION_MINOR 1
#define CORVID_VERSION_PATCH 0
#define CORVID_VERSION_STRING "0.1.0"
/* MAJOR * 10000 + MINOR * 100 + PATCH, for compile-time comparisons. */
#define CORVID_VERSION_NUMBER (CORVID_VERSION_MAJOR * 10000 + CORVID_VERSION_MINOR * 100 + CORVID_VERSION_PATCH)

/* The version of the library actually linked, as "MAJOR.MINOR.PATCH". Static string;
 * thread-safe. Compare with CORVID_VERSION_STRING to detect a header/library mismatch. */
CORVID_API const char *corvid_version(void);

/* The linked library's CORVID_VERSION_NUMBER. Thread-safe. */
CORVID_API int corvid_version_number(void);

/* The instruction-set path the CPU kernels use: "avx512" (AVX-512 with VNNI), "amx" (the
 * same with AMX int8 tiles for prompts), "avx2", "neon" (ARM64 with the dot products) or
 * "scalar" (the reference kernels). The best one this processor and build support, unless
 * CORVID_CPU_ISA in the environment named another that can run here. Static string;
 * thread-safe. */
CORVID_API const char *corvid_cpu_kernels(void);

/* ---------------------------------------------------------------- errors */

typedef enum corvid_status {
    CORVID_OK = 0,
    CORVID_ERR_INVALID_ARGUMENT = 1, /* NULL handle, index out of range, bad parameter */
    CORVID_ERR_IO = 2,               /* a file could not be opened, read or written */
    CORVID_ERR_FORMAT = 3,           /* a file is malformed or truncated */
    CORVID_ERR_UNSUPPORTED = 4,      /* well-formed but not supported (version, type, architecture) */
    CORVID_ERR_NOT_FOUND = 5,        /* no such key, tensor or item */
    CORVID_ERR_TYPE_MISMATCH = 6,    /* the item exists but holds another type than asked for */
    CORVID_ERR_OUT_OF_MEMORY = 7,    /* an allocation failed */
    CORVID_ERR_BUFFER_TOO_SMALL = 8, /* a caller's buffer cannot hold the result; the size needed is reported */
    CORVID_ERR_INTERNAL = 99         /* a bug in Corvid; the message says where */
} corvid_status;

/* A constant name for a status ("CORVID_ERR_FORMAT"); "CORVID_ERR_UNKNOWN" for values
 * outside the enum. Static string; thread-safe. */
CORVID_API const char *corvid_status_name(corvid_status status);

/* The message of the most recent failed call made by the calling thread, or "" if none
 * failed yet. The string is owned by the library and stays valid until the next
 * failing call on this thread. Successful calls leave it unchanged. */
CORVID_API const char *corvid_last_error(void);

/* ---------------------------------------------------------------- logging */

typedef enum corvid_log_level {
    CORVID_LOG_DEBUG = 0,
    CORVID_LOG_INFO = 1,
    CORVID_LOG_WARN = 2,
    CORVID_LOG_ERROR = 3
} corvid_log_level;

/* Receives one complete message (no trailing newline). It may be called from any
 * thread that calls into the library, one call at a time; it must not call back into
 * corvid_set_log_callback. */
typedef void (*corvid_log_callback)(corvid_log_level level, const char *message, void *user_data);

/* Installs `callback` (NULL: discard messages, the default) for the whole process.
 * `user_data` is passed back unchanged and must outlive the installation.
 * Thread-safe. */
CORVID_API void corvid_set_log_callback(corvid_log_callback callback, void *user_data);

/* ---------------------------------------------------------------- tensor types */

/* Element types of tensors, with ggml's numeric ids (GGUF files store these). */
typedef enum corvid_type {
    CORVID_TYPE_F32 = 0,
    CORVID_TYPE_F16 = 1,
    CORVID_TYPE_Q4_0 = 2,
    CORVID_TYPE_Q4_1 = 3,
    CORVID_TYPE_Q5_0 = 6,
    CORVID_TYPE_Q5_1 = 7,
    CORVID_TYPE_Q8_0 = 8,
    CORVID_TYPE_Q8_1 = 9,
    CORVID_TYPE_Q2_K = 10,
    CORVID_TYPE_Q3_K = 11,
    CORVID_TYPE_Q4_K = 12,
    CORVID_TYPE_Q5_K = 13,
    CORVID_TYPE_Q6_K = 14,
    CORVID_TYPE_Q8_K = 15,
    CORVID_TYPE_IQ2_XXS = 16,
    CORVID_TYPE_IQ2_XS = 17,
    CORVID_TYPE_IQ3_XXS = 18,
    CORVID_TYPE_IQ1_S = 19,
    CORVID_TYPE_IQ4_NL = 20,
    CORVID_TYPE_IQ3_S = 21,
    CORVID_TYPE_IQ2_S = 22,
    CORVID_TYPE_IQ4_XS = 23,
    CORVID_TYPE_I8 = 24,
    CORVID_TYPE_I16 = 25,
    CORVID_TYPE_I32 = 26,
    CORVID_TYPE_I64 = 27,
    CORVID_TYPE_F64 = 28,
    CORVID_TYPE_IQ1_M = 29,
    CORVID_TYPE_BF16 = 30,
    CORVID_TYPE_TQ1_0 = 34,
    CORVID_TYPE_TQ2_0 = 35,
    CORVID_TYPE_MXFP4 = 39,
    CORVID_TYPE_NVFP4 = 40,
    CORVID_TYPE_Q1_0 = 41
} corvid_type;

/* ggml's name for a type id ("q4_K"), or NULL for an id that is not a known type.
 * Static string; thread-safe. */
CORVID_API const char *corvid_type_name(uint32_t type);

/* True when Corvid can compute with tensors of this type (it has reference kernels
 * for it). Files holding other known types can still be opened and inspected with
 * corvid_model_params.load_mode = CORVID_LOAD_METADATA_ONLY. Thread-safe. */
CORVID_API bool corvid_type_is_supported(uint32_t type);

/* ---------------------------------------------------------------- models */

/* An open model file. Opaque; created by corvid_model_open, released by corvid_model_close. */
typedef struct corvid_model corvid_model;

/* What corvid_model_open loads beyond the validated file. */
typedef enum corvid_load_mode {
    CORVID_LOAD_FULL = 0,          /* weights, architecture and vocabulary: what a context needs */
    CORVID_LOAD_VOCAB_ONLY = 1,    /* the vocabulary only: tokenize/detokenize (vocabulary GGUFs work) */
    CORVID_LOAD_METADATA_ONLY = 2  /* nothing more: metadata and tensor queries (any GGUF works) */
} corvid_load_mode;

typedef struct corvid_model_params {
    /* Map the file with mmap (default true). When false, or when mapping fails, the
     * file is read with ordinary reads instead (and weights are copied into memory). */
    bool use_mmap;
    /* Default CORVID_LOAD_FULL. In full mode a tensor of a type Corvid cannot compute
     * with (IQ2_XXS, TQ1_0, ...) fails the open with CORVID_ERR_UNSUPPORTED naming the
     * tensor and the type, and an unknown architecture with a list of the supported ones. */
    corvid_load_mode load_mode;
    /* Called with values from 0 to 1 while the model loads (may be NULL). Returning
     * false cancels the load (corvid_model_open then fails with CORVID_ERR_IO). */
    bool (*progress_callback)(float progress, void *user_data);
    void *progress_user_data;
    /* Layers to run on the GPU, counted from the last (llama.cpp's n_gpu_layers).
     * Default -1: all layers and the output head; more than the model has means the
     * same; 0: CPU only. Their weights are uploaded at open and their KV cache lives
     * on the GPU; the token-embedding lookup always runs on the CPU. Without a GPU
     * (or a library built without CUDA) the model runs on the CPU; a positive value
     * then logs a warning. Too little GPU memory fails the open with
     * CORVID_ERR_OUT_OF_MEMORY, saying how much was needed. */
    int32_t n_gpu_layers;
    /* The GPU to use (0 = the first). An index the machine does not have fails the
     * open with CORVID_ERR_INVALID_ARGUMENT (only when it has GPUs at all). */
    int32_t main_gpu;
} corvid_model_params;

/* The default parameters. Always start from these and change fields, so that fields
 * added in later versions get their defaults. Thread-safe. */
CORVID_API corvid_model_params corvid_model_default_params(void);

/* Opens the GGUF file at `path` (versions 2 and 3) and validates it completely: the
 * header, every metadata value, every tensor record, and that all tensor data lies
 * inside the file without overlaps. `params` may be NULL for the defaults.
 * On success stores a new handle in *out_model (the caller closes it) and returns
 * CORVID_OK. On failure *out_model is set to NULL and the status says why:
 * CORVID_ERR_IO (cannot open/read), CORVID_ERR_FORMAT (malformed or truncated),
 * CORVID_ERR_UNSUPPORTED (GGUF v1, big-endian, an unknown architecture, or a tensor
 * type Corvid cannot compute with). Never allocates memory in proportion to an
 * unchecked size.
 * Thread-safe (different calls may open files concurrently). */
CORVID_API corvid_status corvid_model_open(const char *path, const corvid_model_params *params,
                                           corvid_model **out_model);

/* Releases the model and everything obtained from it. NULL is ignored. Must not race
 * with other calls on the same model. */
CORVID_API void corvid_model_close(corvid_model *model);

/* ---- file-level facts. All return 0 / NULL / "" for a NULL model. */

/* The GGUF format version of the file (2 or 3). */
CORVID_API uint32_t corvid_model_gguf_version(const corvid_model *model);

/* Size of the file in bytes. */
CORVID_API uint64_t corvid_model_file_size(const corvid_model *model);

/* Data alignment of the file (general.alignment, default 32) and the absolute byte
 * offset at which tensor data starts. */
CORVID_API uint32_t corvid_model_alignment(const corvid_model *model);
CORVID_API uint64_t corvid_model_data_offset(const corvid_model *model);

/* ---- model-level facts, derived from metadata. */

/* general.architecture ("llama", "qwen2", "gemma3", ...), or "" when the key is
 * missing. Owned by the model. */
CORVID_API const char *corvid_model_architecture(const corvid_model *model);

/* general.name, or "" when missing. Owned by the model. */
CORVID_API const char *corvid_model_name(const corvid_model *model);

/* The architecture's `<arch>.block_count`, `<arch>.embedding_length` and
 * `<arch>.context_length`, or -1 when the key is missing or not an integer. */
CORVID_API int64_t corvid_model_n_layers(const corvid_model *model);
CORVID_API int64_t corvid_model_n_embd(const corvid_model *model);
CORVID_API int64_t corvid_model_n_ctx_train(const corvid_model *model);

/* Where the model computes: "CPU" when everything runs on the CPU, else the GPU
 * backend's name (e.g. "CUDA0"). Owned by the model; "" for NULL. Thread-safe. */
CORVID_API const char *corvid_model_backend(const corvid_model *model);

/* Layers whose weights live on the GPU (0 when none). Thread-safe. */
CORVID_API int32_t corvid_model_n_gpu_layers(const corvid_model *model);

/* Measures the read bandwidth of the GPU memory the model's offloaded layers use
 * (bytes/s, a streaming read of `probe_bytes`) into *out_bytes_per_s — the roofline for
 * generation speed. CORVID_ERR_UNSUPPORTED when the model runs on the CPU or the
 * backend cannot measure it. Must not race with contexts of the model computing. */
CORVID_API corvid_status corvid_model_gpu_bandwidth(const corvid_model *model, size_t probe_bytes,
                                                    double *out_bytes_per_s);

/* Number of entries of tokenizer.ggml.tokens, or -1 when the file has no vocabulary. */
CORVID_API int64_t corvid_model_n_vocab(const corvid_model *model);

/* Number of tensors and the total number of elements in them (parameters). */
CORVID_API int64_t corvid_model_n_tensors(const corvid_model *model);
CORVID_API uint64_t corvid_model_n_params(const corvid_model *model);

/* ---- metadata: any key. */

/* Value types of metadata, with GGUF's numeric ids. */
typedef enum corvid_value_type {
    CORVID_VALUE_UINT8 = 0,
    CORVID_VALUE_INT8 = 1,
    CORVID_VALUE_UINT16 = 2,
    CORVID_VALUE_INT16 = 3,
    CORVID_VALUE_UINT32 = 4,
    CORVID_VALUE_INT32 = 5,
    CORVID_VALUE_FLOAT32 = 6,
    CORVID_VALUE_BOOL = 7,
    CORVID_VALUE_STRING = 8,
    CORVID_VALUE_ARRAY = 9,
    CORVID_VALUE_UINT64 = 10,
    CORVID_VALUE_INT64 = 11,
    CORVID_VALUE_FLOAT64 = 12
} corvid_value_type;

/* The name of a value type ("uint32"), or "?" outside the enum. Static; thread-safe. */
CORVID_API const char *corvid_value_type_name(corvid_value_type type);

/* Number of metadata entries, and the key of entry `index` (0-based, in file order),
 * or NULL when `index` is out of range. Keys are owned by the model. */
CORVID_API int64_t corvid_model_meta_count(const corvid_model *model);
CORVID_API const char *corvid_model_meta_key(const corvid_model *model, int64_t index);

/* Describes the value of `key`: its type, and for arrays the element type and length
 * (for scalars *out_elem_type is left unchanged and *out_array_len set to 0). Any out
 * pointer may be NULL. CORVID_ERR_NOT_FOUND when the key is absent. */
CORVID_API corvid_status corvid_model_meta_type(const corvid_model *model, const char *key,
                                                corvid_value_type *out_type, corvid_value_type *out_elem_type,
                                                uint64_t *out_array_len);

/* Typed reads of a scalar value.
 *  - _int: any integer type whose value fits in int64_t.
 *  - _float: FLOAT32 or FLOAT64.
 *  - _bool: BOOL.
 *  - _string: STRING; *out points at the model's copy, NUL-terminated, and *out_len
 *    (may be NULL) receives its length in bytes (GGUF strings may contain NUL bytes).
 * CORVID_ERR_NOT_FOUND when the key is absent, CORVID_ERR_TYPE_MISMATCH when the value
 * has another type or does not fit. */
CORVID_API corvid_status corvid_model_meta_int(const corvid_model *model, const char *key, int64_t *out);
CORVID_API corvid_status corvid_model_meta_float(const corvid_model *model, const char *key, double *out);
CORVID_API corvid_status corvid_model_meta_bool(const corvid_model *model, const char *key, bool *out);
CORVID_API corvid_status corvid_model_meta_string(const corvid_model *model, const char *key, const char **out,
                                                  size_t *out_len);

/* Typed reads of element `index` of an array value, with the same rules as the scalar
 * reads (integer arrays include bool arrays, read as 0/1). CORVID_ERR_INVALID_ARGUMENT
 * when `index` is out of range. */
CORVID_API corvid_status corvid_model_meta_array_int(const corvid_model *model, const char *key, uint64_t index,
                                                     int64_t *out);
CORVID_API corvid_status corvid_model_meta_array_float(const corvid_model *model, const char *key, uint64_t index,
                                                       double *out);
CORVID_API corvid_status corvid_model_meta_array_string(const corvid_model *model, const char *key, uint64_t index,
                                                        const char **out, size_t *out_len);

/* Renders the value of `key` as text into `buf` (snprintf-style: at most `size` bytes
 * including the terminating NUL; `buf` may be NULL when `size` is 0). Strings are
 * quoted with JSON escapes; arrays show at most `max_items` elements followed by the
 * total. Returns the length the full text needs (excluding the NUL), or -1 when the
 * key is absent or an argument is invalid (see corvid_last_error()). */
CORVID_API int64_t corvid_model_meta_format(const corvid_model *model, const char *key, char *buf, size_t size,
                                            size_t max_items);

/* ---- tensors. */

typedef struct corvid_tensor_info {
    const char *name;      /* owned by the model */
    uint32_t type;         /* a corvid_type value */
    uint32_t n_dims;       /* 0..4 */
    int64_t ne[4];         /* dimensions, contiguous first; unused ones are 1 */
    uint64_t file_offset;  /* absolute byte offset of the data in the file */
    uint64_t n_bytes;      /* size of the data */
    uint64_t n_elements;
} corvid_tensor_info;

/* Fills *out with tensor `index` (0-based, in file order). CORVID_ERR_INVALID_ARGUMENT
 * when `index` is out of range. */
CORVID_API corvid_status corvid_model_tensor_info(const corvid_model *model, int64_t index, corvid_tensor_info *out);

/* Index of the tensor called `name`, or -1 when there is none. */
CORVID_API int64_t corvid_model_find_tensor(const corvid_model *model, const char *name);


/* ---------------------------------------------------------------- vocabulary */

/* Token ids are int32_t in 0 .. corvid_model_n_vocab(model) - 1. The functions below
 * need a model opened with CORVID_LOAD_FULL or CORVID_LOAD_VOCAB_ONLY from a file that
 * has a vocabulary; otherwise they fail with CORVID_ERR_INVALID_ARGUMENT. All are
 * thread-safe on one model. */

/* Converts `text_len` bytes of UTF-8 `text` into tokens. With `add_special`, the
 * beginning/end-of-sequence tokens the model asks for (tokenizer.ggml.add_bos_token,
 * add_eos_token) are added. With `parse_special`, special-token strings in the text
 * ("<s>", "<|im_start|>", ...) become those tokens; without it they are plain text.
 * Writes at most `capacity` ids to `tokens` and the count to *n_tokens. When the ids
 * do not fit, returns CORVID_ERR_BUFFER_TOO_SMALL with the count needed in *n_tokens
 * (call again with a larger buffer; `tokens` may be NULL when `capacity` is 0). */
CORVID_API corvid_status corvid_tokenize(const corvid_model *model, const char *text, size_t text_len, bool add_special,
                                         bool parse_special, int32_t *tokens, size_t capacity, size_t *n_tokens);

/* The bytes token `token` stands for (a token may be part of a UTF-8 character).
 * Control tokens (BOS, EOS, ...) render as their text only with `render_special`;
 * otherwise as nothing. Writes at most `size` bytes (no terminating NUL) and the full
 * length to *n_bytes; CORVID_ERR_BUFFER_TOO_SMALL when they do not fit;
 * CORVID_ERR_INVALID_ARGUMENT for an id outside the vocabulary. */
CORVID_API corvid_status corvid_token_to_piece(const corvid_model *model, int32_t token, bool render_special, char *buf,
                                               size_t size, size_t *n_bytes);

/* The text of `n` tokens (as llama.cpp detokenizes: SentencePiece's leading space
 * after BOS is removed). Same buffer rules as corvid_token_to_piece. */
CORVID_API corvid_status corvid_detokenize(const corvid_model *model, const int32_t *tokens, size_t n,
                                           bool render_special, char *buf, size_t size, size_t *n_bytes);

/* Special tokens: -1 when the model has none. */
CORVID_API int32_t corvid_vocab_bos(const corvid_model *model);
CORVID_API int32_t corvid_vocab_eos(const corvid_model *model);
/* True for tokens that end a generation (EOS, end-of-turn, ...). */
CORVID_API bool corvid_vocab_is_eog(const corvid_model *model, int32_t token);

/* ---------------------------------------------------------------- contexts */

/* State for evaluating tokens on one model: the KV cache and work memory. Not
 * thread-safe: use one context per thread (several contexts may share a model). */
typedef struct corvid_context corvid_context;

typedef struct corvid_context_params {
    uint32_t n_ctx;     /* KV-cache cells (tokens of context); 0 = min(training context, 4096) */
    uint32_t n_batch;   /* most tokens evaluated in one graph; longer batches are split (default 512) */
    int32_t n_threads;  /* CPU threads; 0 = the number of physical cores */
    corvid_type kv_type;/* CORVID_TYPE_F16 (default) or CORVID_TYPE_F32 */
} corvid_context_params;

/* The defaults; start from these. Thread-safe. */
CORVID_API corvid_context_params corvid_context_default_params(void);

/* Creates a context on `model`, which must have been opened with CORVID_LOAD_FULL and
 * must outlive the context. `params` may be NULL for the defaults. On failure
 * *out_ctx is NULL. */
CORVID_API corvid_status corvid_context_create(const corvid_model *model, const corvid_context_params *params,
                                               corvid_context **out_ctx);

/* Releases the context. NULL is ignored. */
CORVID_API void corvid_context_free(corvid_context *ctx);

/* The context's size in tokens (KV-cache cells). 0 for NULL. */
CORVID_API uint32_t corvid_context_n_ctx(const corvid_context *ctx);

/* Tokens to evaluate together. Only `n_tokens` and `tokens` are required:
 *  - pos: the position of each token; NULL = each sequence continues after its
 *    highest position in the cache (0 for a new one);
 *  - seq_id: the sequence each token belongs to (0..63); NULL = all in sequence 0;
 *  - logits: nonzero for each token whose logits are wanted; NULL = the last token. */
typedef struct corvid_batch {
    size_t n_tokens;
    const int32_t *tokens;
    const int32_t *pos;
    const int32_t *seq_id;
    const int8_t *logits;
} corvid_batch;

/* Evaluates a batch and appends its tokens to the KV cache. Fails with
 * CORVID_ERR_INVALID_ARGUMENT (naming the token) for an id outside the vocabulary, a
 * negative position or a bad sequence id, and when the batch needs more free cache
 * cells than there are (a prompt longer than the context); those checks run before
 * anything changes. */
CORVID_API corvid_status corvid_decode(corvid_context *ctx, const corvid_batch *batch);

/* The logits (corvid_model_n_vocab floats) of token `i` of the last decoded batch,
 * or of its last token with logits when i < 0. Owned by the context, valid until the
 * next corvid_decode. NULL (with corvid_last_error set) when token i has none. */
CORVID_API const float *corvid_get_logits(corvid_context *ctx, int32_t i);

/* KV-cache edits. seq_remove drops positions [p0, p1) of sequence `seq` (seq < 0: all
 * sequences; p0 < 0: from 0; p1 < 0: to the end) — rollback for speculative decoding
 * or editing a conversation. clear empties the cache. seq_max_pos is the highest
 * position sequence `seq` holds, or -1. */
CORVID_API corvid_status corvid_kv_seq_remove(corvid_context *ctx, int32_t seq, int32_t p0, int32_t p1);
CORVID_API void corvid_kv_clear(corvid_context *ctx);
CORVID_API int32_t corvid_kv_seq_max_pos(const corvid_context *ctx, int32_t seq);

/* ---------------------------------------------------------------- sampling */

/* Chooses the next token from logits. Not thread-safe; one per generation stream. */
typedef struct corvid_sampler corvid_sampler;

typedef struct corvid_logit_bias {
    int32_t token;
    float bias; /* added to the token's logit; -INFINITY bans it */
} corvid_logit_bias;

/* The sampling settings, with llama.cpp's names and defaults. */
typedef struct corvid_sampler_params {
    uint64_t seed;             /* random choices are reproducible for a seed (default 0xC0FFEE) */
    float temperature;         /* 0.8; <= 0: greedy */
    float dynatemp_range;      /* 0; > 0: temperature varies by entropy within +- this */
    float dynatemp_exponent;   /* 1 */
    int32_t top_k;             /* 40; <= 0: off */
    float top_p;               /* 0.95; 1: off */
    float min_p;               /* 0.05; 0: off */
    float typical_p;           /* 1: off */
    float xtc_probability;     /* 0: off */
    float xtc_threshold;       /* 0.1 */
    int32_t penalty_last_n;    /* 64 tokens of history for the penalties; -1: all; 0: off */
    float repeat_penalty;      /* 1: off */
    float frequency_penalty;   /* 0: off */
    float presence_penalty;    /* 0: off */
    float dry_multiplier;      /* 0: off */
    float dry_base;            /* 1.75 */
    int32_t dry_allowed_length;/* 2 */
    int32_t dry_penalty_last_n;/* -1: all history */
    int32_t mirostat;          /* 0: off; 2: mirostat 2.0 (replaces top-k/p etc.; 1 is not supported) */
    float mirostat_tau;        /* 5 */
    float mirostat_eta;        /* 0.1 */
    /* The order of the filtering stages, ';'-separated, from: penalties, dry, top_k,
     * typ_p, top_p, min_p, xtc, temperature. NULL: llama.cpp's default order
     * "penalties;dry;top_k;typ_p;top_p;min_p;xtc;temperature". Logit biases always
     * come first and the random choice last. The string is copied. */
    const char *samplers;
    const corvid_logit_bias *logit_bias; /* n_logit_bias entries, copied; may be NULL */
    size_t n_logit_bias;
    /* Grammar-constrained sampling: every sampled token keeps the text inside the
     * grammar's language, and end-of-generation tokens are allowed only where the
     * grammar may end. Set at most one of `grammar` and `json_schema` (NULL: no
     * constraint); both strings are copied. Needs the model's vocabulary (`model` of
     * corvid_sampler_create must not be NULL). */
    const char *grammar;      /* GBNF text (llama.cpp's grammar language) */
    const char *grammar_root; /* the start rule; NULL: "root" */
    /* A JSON Schema (as text); the output is a JSON value that validates against it.
     * "{}" or "true" allows any JSON value. Unsupported keywords are an error naming
     * them unless CORVID_GRAMMAR_IGNORE_UNSUPPORTED is set (then they are skipped, with
     * a warning through the log callback). See docs/architecture.md for the keywords. */
    const char *json_schema;
    uint32_t grammar_flags; /* CORVID_GRAMMAR_* bits; 0 by default */
} corvid_sampler_params;

/* grammar_flags bits. */
#define CORVID_GRAMMAR_IGNORE_UNSUPPORTED 1u /* skip unsupported JSON Schema keywords */
/* Mask the vocabulary before every choice. By default the chain samples freely and masks
 * only when the grammar refuses its choice (then samples again among allowed tokens):
 * the same tokens are possible either way, but the truncating stages (top-k, top-p...)
 * then see the unmasked distribution first, as in llama.cpp. */
#define CORVID_GRAMMAR_MASK_FIRST 2u

CORVID_API corvid_sampler_params corvid_sampler_default_params(void);

/* Creates a sampler chain from `params` (NULL: the defaults). `model` (may be NULL)
 * supplies the vocabulary for DRY's sequence breakers ("\n", ":", "\"", "*"); without
 * it DRY has none. CORVID_ERR_INVALID_ARGUMENT names an unknown stage in `samplers` or
 * an unsupported mirostat version, and reports grammar errors: a GBNF syntax error with
 * its line and column, an undefined or left-recursive rule by name, a JSON Schema
 * keyword that is not supported, a special token the vocabulary lacks (message in
 * corvid_last_error). A grammar costs one pass over the vocabulary here (about 55 ms for
 * 128k tokens, 115 ms for 262k on a 2-core machine), once per model: later samplers share it. */
CORVID_API corvid_status corvid_sampler_create(const corvid_model *model, const corvid_sampler_params *params,
                                               corvid_sampler **out_sampler);
CORVID_API void corvid_sampler_free(corvid_sampler *sampler);

/* Samples from the logits of token `i` of ctx's last batch (i < 0: its last token
 * with logits), stores the token in *out_token, and records it in the sampler's
 * history (penalties, DRY, mirostat) and grammar. With a grammar that allows no token
 * (it has ended and the vocabulary has no end-of-generation token) it fails with
 * CORVID_ERR_INVALID_ARGUMENT. */
CORVID_API corvid_status corvid_sampler_sample(corvid_sampler *sampler, corvid_context *ctx, int32_t i,
                                               int32_t *out_token);

/* Samples from caller-provided logits (n_vocab floats); same as above otherwise. */
CORVID_API corvid_status corvid_sampler_sample_logits(corvid_sampler *sampler, const float *logits, int32_t n_vocab,
                                                      int32_t *out_token);

/* Records a token the sampler did not choose (prompt tokens, a user's edit) in its
 * history, so that the penalties see it. The grammar does not see it: it constrains
 * only what the sampler generates. */
CORVID_API void corvid_sampler_accept(corvid_sampler *sampler, int32_t token);

/* Forgets the history and restores the initial random state; the grammar starts over. */
CORVID_API void corvid_sampler_reset(corvid_sampler *sampler);

/* Starts the grammar over (for the next reply of a conversation), keeping the history
 * and the random state. No effect without a grammar. */
CORVID_API void corvid_sampler_reset_grammar(corvid_sampler *sampler);


/* Converts a JSON Schema (text) to the GBNF that corvid_sampler_params.json_schema
 * would use, for inspection or editing. flags: CORVID_GRAMMAR_* bits. Output as in
 * corvid_token_to_piece (no NUL; CORVID_ERR_BUFFER_TOO_SMALL reports the size).
 * CORVID_ERR_INVALID_ARGUMENT for malformed JSON or an unsupported keyword (named).
 * Thread-safe. */
CORVID_API corvid_status corvid_json_schema_to_grammar(const char *json_schema, uint32_t flags, char *buf, size_t size,
                                                       size_t *n_bytes);

/* Checks GBNF text without a model: CORVID_OK, or CORVID_ERR_INVALID_ARGUMENT with the
 * error's line and column (or the rule's name) in corvid_last_error. `root` NULL: "root".
 * Thread-safe. */
CORVID_API corvid_status corvid_grammar_validate(const char *gbnf, const char *root);

/* ---------------------------------------------------------------- chat templates */

/* The model's chat template (tokenizer.chat_template), or NULL when it has none.
 * Owned by the model. */
CORVID_API const char *corvid_model_chat_template(const corvid_model *model);

/* Renders a conversation into a prompt with a chat template (a Jinja subset that
 * renders real templates exactly as Python's jinja2 does).
 *  - tmpl: Jinja source; or the name of a built-in template ("gemma", "chatml",
 *    "llama3", "llama2"); or NULL for the model's own template, falling back to the
 *    built-in for its architecture. CORVID_ERR_NOT_FOUND when there is none.
 *  - messages_json: a JSON array of messages, e.g.
 *    [{"role": "system", "content": "..."}, {"role": "user", "content": "..."}]
 *    (assistant messages may carry "tool_calls"; tool results use role "tool").
 *  - tools_json: a JSON array of tool definitions, or NULL.
 *  - add_generation_prompt: end with the start of an assistant turn.
 * `model` supplies bos_token/eos_token (may be NULL when tmpl is given). Output as in
 * corvid_token_to_piece (no NUL; CORVID_ERR_BUFFER_TOO_SMALL reports the size).
 * A malformed template or one using something unsupported fails with
 * CORVID_ERR_FORMAT / CORVID_ERR_UNSUPPORTED naming the construct and the line; a
 * template that raises (raise_exception) fails with its message. Thread-safe. */
CORVID_API corvid_status corvid_chat_apply_template(const corvid_model *model, const char *tmpl,
                                                    const char *messages_json, const char *tools_json,
                                                    bool add_generation_prompt, char *buf, size_t size,
                                                    size_t *n_bytes);

/* ---------------------------------------------------------------- quantization */

/* The targets corvid_model_quantize makes, with llama.cpp's llama_ftype values (what
 * general.file_type holds). The _S/_M/_L mixes give some tensors more bits than the base
 * type, with llama.cpp's per-tensor recipes (attention V, FFN down, output, first/last
 * layers); the others use one type for every weight matrix. Output and embedding
 * matrices follow the recipes (the quantized types put output.weight in Q6_K). */
typedef enum corvid_ftype {
    CORVID_FTYPE_ALL_F32 = 0,
    CORVID_FTYPE_MOSTLY_F16 = 1,
    CORVID_FTYPE_MOSTLY_Q4_0 = 2,
    CORVID_FTYPE_MOSTLY_Q4_1 = 3,
    CORVID_FTYPE_MOSTLY_Q8_0 = 7,
    CORVID_FTYPE_MOSTLY_Q5_0 = 8,
    CORVID_FTYPE_MOSTLY_Q5_1 = 9,
    CORVID_FTYPE_MOSTLY_Q2_K = 10,
    CORVID_FTYPE_MOSTLY_Q3_K_S = 11,
    CORVID_FTYPE_MOSTLY_Q3_K_M = 12,
    CORVID_FTYPE_MOSTLY_Q3_K_L = 13,
    CORVID_FTYPE_MOSTLY_Q4_K_S = 14,
    CORVID_FTYPE_MOSTLY_Q4_K_M = 15,
    CORVID_FTYPE_MOSTLY_Q5_K_S = 16,
    CORVID_FTYPE_MOSTLY_Q5_K_M = 17,
    CORVID_FTYPE_MOSTLY_Q6_K = 18,
    CORVID_FTYPE_MOSTLY_IQ4_NL = 25,
    CORVID_FTYPE_MOSTLY_IQ4_XS = 30,
    CORVID_FTYPE_MOSTLY_BF16 = 32
} corvid_ftype;

/* The name of a target ("Q4_K_M"), or NULL for a value corvid_model_quantize does not
 * make. Static string; thread-safe. */
CORVID_API const char *corvid_ftype_name(int32_t ftype);

/* Parses a target name case-insensitively ("q4_k_m"; also llama-quantize's aliases Q3_K,
 * Q4_K, Q5_K for the _M mixes) into *out_ftype. CORVID_ERR_INVALID_ARGUMENT, with the
 * valid names in the message, for an unknown name. Thread-safe. */
CORVID_API corvid_status corvid_ftype_from_name(const char *name, corvid_ftype *out_ftype);

/* One per-tensor override: tensors whose name matches `pattern` (an ECMAScript regular
 * expression searched anywhere in the name, e.g. "attn_v" or "blk\\.0\\.ffn_down")
 * become `type` instead of the recipe's choice. The first matching entry wins. Applies to
 * quantized targets only; a type the rows do not fit falls back as the recipes do. */
typedef struct corvid_quantize_tensor_type {
    const char *pattern;
    corvid_type type;
} corvid_quantize_tensor_type;

/* Reported after each tensor is written (on the calling thread). The pointers are valid
 * during the call only. */
typedef struct corvid_quantize_progress {
    size_t tensor_index;       /* 0-based, in output order */
    size_t n_tensors;
    const char *name;
    corvid_type src_type;      /* its type in the input */
    corvid_type dst_type;      /* its type in the output (the same when copied) */
    uint64_t src_bytes;
    uint64_t dst_bytes;
    uint64_t n_elements_done;  /* elements of the converted tensors done so far, this one included */
    uint64_t n_elements_total; /* elements of all the tensors that are converted (copies excluded) */
    double elapsed_seconds;    /* since corvid_model_quantize was called */
} corvid_quantize_progress;

/* Return false to cancel: corvid_model_quantize then fails with CORVID_ERR_IO and leaves
 * no output file. */
typedef bool (*corvid_quantize_progress_callback)(const corvid_quantize_progress *progress, void *user_data);

typedef struct corvid_quantize_params {
    corvid_ftype ftype;           /* the target (default CORVID_FTYPE_MOSTLY_Q8_0, as llama.cpp's) */
    int32_t n_threads;            /* threads quantizing rows; <= 0: all cores (default 0) */
    bool allow_requantize;        /* convert tensors that are already quantized (dequantize, then
                                     quantize; worse than quantizing the original). Default false:
                                     such an input fails with CORVID_ERR_UNSUPPORTED */
    bool pure;                    /* no mix: every weight matrix in the base type (default false) */
    bool keep_tensor_order;       /* write tensors in the input's order rather than llama.cpp's
                                     (non-layer tensors, then layer by layer, by name). Default false:
                                     the output is then byte-identical to llama-quantize's */
    int32_t output_tensor_type;   /* a corvid_type for output.weight, or -1 (default): the recipe's */
    int32_t token_embedding_type; /* a corvid_type for token_embd.weight, or -1 (default): the recipe's */
    const corvid_quantize_tensor_type *tensor_types; /* n_tensor_types overrides (copied); may be NULL */
    size_t n_tensor_types;
    /* An importance matrix file made by llama.cpp's llama-imatrix (its GGUF format, or the
     * legacy .dat), or NULL (the default). The file is read and checked before anything is
     * written; its per-column importances weight the quantizers' errors (the same bytes as
     * llama-quantize --imatrix), they switch on llama.cpp's imatrix-only recipe rules, and
     * the output gets llama-quantize's quantize.imatrix.* keys (file = this string). Tensors
     * the matrix has no entry for are quantized without. Q2_K does not require one (as in
     * llama.cpp). The string is only read during the call. */
    const char *imatrix_path;
    corvid_quantize_progress_callback progress_callback; /* may be NULL */
    void *progress_user_data;
} corvid_quantize_params;

/* What a finished quantization did. */
typedef struct corvid_quantize_stats {
    uint64_t n_tensors;        /* tensors written */
    uint64_t n_converted;      /* of which converted (the rest copied unchanged) */
    uint64_t n_fallback;       /* tensors whose rows did not fit the recipe's type */
    uint64_t n_elements;       /* parameters in all tensors */
    uint64_t src_tensor_bytes; /* tensor data before ... */
    uint64_t dst_tensor_bytes; /* ... and after */
    uint64_t src_file_bytes;
    uint64_t dst_file_bytes;
    double seconds;
} corvid_quantize_stats;

/* The default parameters. Start from these and change fields. Thread-safe. */
CORVID_API corvid_quantize_params corvid_quantize_default_params(void);

/* Quantizes the GGUF model at `input_path` into a new GGUF file at `output_path`
 * (params NULL: the defaults), as llama.cpp's llama-quantize does: every metadata key
 * kept (general.file_type set to the target, general.quantization_version = 2), only
 * weight matrices converted (norms and other 1-D tensors keep their type), tensors whose
 * rows are not whole blocks of the chosen type falling back to one that fits (each
 * fallback is logged as a warning). The input may be F32, F16 or BF16 (or quantized,
 * with allow_requantize). One tensor is in memory at a time; the output is written to a
 * temporary file beside `output_path` and renamed when complete, so a failure never
 * leaves a partial file under that name. Warnings go to the log callback. `out_stats`
 * may be NULL. Errors: CORVID_ERR_IO (cannot read the input or write the output, or
 * cancelled), CORVID_ERR_FORMAT (a malformed or truncated input, a NaN/infinity in a
 * weight, a malformed importance matrix or one whose entry sizes do not fit the model),
 * CORVID_ERR_UNSUPPORTED (requantizing without allow_requantize, a tensor type Corvid
 * cannot convert), CORVID_ERR_INVALID_ARGUMENT (an unknown ftype or type, a bad pattern,
 * an empty imatrix_path). Thread-safe for different files. */
CORVID_API corvid_status corvid_model_quantize(const char *input_path, const char *output_path,
                                               const corvid_quantize_params *params,
                                               corvid_quantize_stats *out_stats);

#ifdef __cplusplus
}
#endif

#endif /* CORVID_H */
