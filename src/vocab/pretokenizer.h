// Pre-tokenizers of byte-level BPE vocabularies: the sequence of regular expressions that
// `tokenizer.ggml.pre` names. Each expression splits every piece produced so far into its
// matches and the text between them (both kept), as the Hugging Face "Split ... isolated"
// pre-tokenizers and llama.cpp do. Compiled once with PCRE2 (UTF, Unicode properties, JIT).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corvid::vocab {

class PreTokenizer {
public:
    // Throws Error(unsupported) for a name not in supported_names().
    static std::unique_ptr<PreTokenizer> create(const std::string &name);
    // "gpt-2, llama3, ...": for error messages.
    static std::string supported_names();

    ~PreTokenizer();
    PreTokenizer(const PreTokenizer &) = delete;
    PreTokenizer &operator=(const PreTokenizer &) = delete;

    const std::string &name() const { return name_; }

    // Replaces `pieces` with the [begin, end) byte ranges of `text` that the expressions cut it
    // into, in order, covering all of `text`. Thread-safe (the compiled patterns are shared).
    void split(std::string_view text, std::vector<std::pair<size_t, size_t>> &pieces) const;

private:
    PreTokenizer() = default;
    std::string name_;
    std::vector<void *> codes_; // pcre2_code_8 *
};

} // namespace corvid::vocab
