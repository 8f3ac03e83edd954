// Reading a vocabulary from GGUF metadata (tokenizer.ggml.*), with llama.cpp's defaults for
// keys that are absent and its fix-ups for special tokens that models mark inconsistently.
#include "vocab/vocab_data.h"

#include "gguf/gguf_file.h"
#include "util/error.h"
#include "vocab/unicode.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdio>

namespace corvid::vocab {

using gguf::Value;
using gguf::ValueType;

void SpecialTrie::insert(std::string_view text, int32_t id) {
    int32_t node = 0;
    for (char ch : text) {
        const auto b = static_cast<uint8_t>(ch);
        int32_t c = child(node, b);
        if (c < 0) {
            c = static_cast<int32_t>(nodes.size());
            nodes.emplace_back();
            auto &next = nodes[node].next;
            next.insert(std::lower_bound(next.begin(), next.end(), std::make_pair(b, INT32_MIN)), {b, c});
        }
        node = c;
    }
    auto &ids = nodes[node].ids;
    ids.insert(std::lower_bound(ids.begin(), ids.end(), id), id);
    first[static_cast<uint8_t>(text[0])] = true;
}

int32_t SpecialTrie::child(int32_t node, uint8_t b) const {
    const auto &next = nodes[node].next;
    auto it = std::lower_bound(next.begin(), next.end(), std::make_pair(b, INT32_MIN));
    return it != next.end() && it->first == b ? it->second : -1;
}

namespace {

const char *kSupportedModels = "llama, gpt2, bert";

struct Loader {
    const gguf::GgufFile &file;
    VocabData &d;

    const char *path() const { return file.path().c_str(); }

    const Value *array_key(const char *key, bool required, bool strings) const {
        const Value *v = file.find(key);
        if (!v) {
            if (required) fail(Status::format, "%s: missing key %s", path(), key);
            return nullptr;
        }
        if (v->type() != ValueType::ARRAY)
            fail(Status::format, "%s: %s is a %s, expected an array", path(), key, gguf::value_type_name(v->type()));
        if (strings && v->elem_type() != ValueType::STRING)
            fail(Status::format, "%s: %s is an array of %s, expected strings", path(), key,
                 gguf::value_type_name(v->elem_type()));
        return v;
    }

    // A token id key: absent -> `dflt` (if in range, else -1); 0xFFFFFFFF or -1 -> none.
    int32_t token_id_key(const char *key, int32_t dflt) const {
        const int32_t n = static_cast<int32_t>(d.tokens.size());
        const Value *v = file.find(key);
        if (!v) return dflt >= 0 && dflt < n ? dflt : -1;
        const auto i = v->as_int();
        if (!i) fail(Status::format, "%s: %s is a %s, expected an integer token id", path(), key,
                     gguf::value_type_name(v->type()));
        if (*i == -1 || *i == 0xFFFFFFFFll) return -1;
        if (*i < 0 || *i >= n)
            fail(Status::format, "%s: %s = %lld is out of range (the vocabulary has %d tokens)", path(), key,
                 static_cast<long long>(*i), n);
        return static_cast<int32_t>(*i);
    }

    bool bool_key(const char *key, bool dflt) const {
        const Value *v = file.find(key);
        if (!v) return dflt;
        const auto b = v->as_bool();
        if (!b) fail(Status::format, "%s: %s is a %s, expected bool", path(), key, gguf::value_type_name(v->type()));
        return *b;
    }

    void load_tokens() {
        const Value *tokens = array_key("tokenizer.ggml.tokens", true, true);
        const uint64_t n = tokens->array_size();
        if (n == 0) fail(Status::format, "%s: tokenizer.ggml.tokens is empty", path());
        if (n > static_cast<uint64_t>(INT32_MAX))
            fail(Status::format, "%s: tokenizer.ggml.tokens has %llu entries, more than token ids can address", path(),
                 static_cast<unsigned long long>(n));

        const Value *scores = array_key("tokenizer.ggml.scores", false, false);
        if (scores) {
            if (scores->elem_type() != ValueType::FLOAT32 && scores->elem_type() != ValueType::FLOAT64)
                fail(Status::format, "%s: tokenizer.ggml.scores is an array of %s, expected float32", path(),
                     gguf::value_type_name(scores->elem_type()));
            if (scores->array_size() != n)
                fail(Status::format, "%s: tokenizer.ggml.scores has %llu entries, expected %llu (one per token)",
                     path(), static_cast<unsigned long long>(scores->array_size()), static_cast<unsigned long long>(n));
        }
        const Value *types = array_key("tokenizer.ggml.token_type", false, false);
        if (types) {
            if (!gguf::is_integer(types->elem_type()))
                fail(Status::format, "%s: tokenizer.ggml.token_type is an array of %s, expected int32", path(),
                     gguf::value_type_name(types->elem_type()));
            if (types->array_size() != n)
                fail(Status::format, "%s: tokenizer.ggml.token_type has %llu entries, expected %llu (one per token)",
                     path(), static_cast<unsigned long long>(types->array_size()), static_cast<unsigned long long>(n));
        }

        d.tokens.resize(n);
        for (uint64_t i = 0; i < n; ++i) {
            TokenData &t = d.tokens[i];
            t.text = tokens->strings()[i];
            if (t.text.empty()) t.text = "[EMPTY_" + std::to_string(i) + "]"; // as llama.cpp names them
            if (scores) t.score = static_cast<float>(*scores->float_at(i));
            if (types) {
                const auto ty = types->int_at(i);
                if (!ty || *ty < 0 || *ty > 6)
                    fail(Status::format, "%s: tokenizer.ggml.token_type[%llu] = %lld is not a token type (0..6)", path(),
                         static_cast<unsigned long long>(i), static_cast<long long>(ty ? *ty : -1));
                static const uint32_t kAttrOfType[7] = {kAttrUndefined,   kAttrNormal, kAttrUnknown, kAttrControl,
                                                        kAttrUserDefined, kAttrUnused, kAttrByte};
                t.attr = kAttrOfType[*ty];
            }
        }
        // Built after the vector is final: the keys are views into the token texts.
        d.text_to_id.reserve(n);
        for (uint64_t i = 0; i < n; ++i) d.text_to_id.insert_or_assign(std::string_view(d.tokens[i].text), static_cast<int32_t>(i));
    }

    void load_merges() {
        const Value *merges = array_key("tokenizer.ggml.merges", true, true);
        const auto &list = merges->strings();
        d.merges.reserve(list.size());
        std::string joined;
        for (size_t r = 0; r < list.size(); ++r) {
            const std::string &m = list[r];
            const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
            if (sp == std::string::npos)
                fail(Status::format, "%s: tokenizer.ggml.merges[%zu] = '%s' is not two tokens separated by a space",
                     path(), r, m.c_str());
            const std::string_view left(m.data(), sp), right(m.data() + sp + 1, m.size() - sp - 1);
            const int32_t l = d.find(left), rt = d.find(right);
            if (l < 0 || rt < 0)
                fail(Status::format, "%s: tokenizer.ggml.merges[%zu] = '%s' names '%.*s', which is not in the vocabulary",
                     path(), r, m.c_str(), static_cast<int>(l < 0 ? left.size() : right.size()),
                     l < 0 ? left.data() : right.data());
            joined.assign(left);
            joined.append(right);
            d.merges.emplace(VocabData::pair_key(l, rt), BpeMerge{static_cast<int32_t>(r), d.find(joined)});
        }
    }

    int32_t first_present(std::initializer_list<const char *> texts) const {
        for (const char *t : texts) {
            const int32_t id = d.find(t);
            if (id >= 0) return id;
        }
        return -1;
    }

    void mark_control(int32_t id) {
        if (id >= 0) d.tokens[id].attr |= kAttrControl;
    }

    // Tokens that end a turn or serve fill-in-the-middle are recognised by their text when the
    // metadata does not name them, and treated as control tokens (llama.cpp does the same).
    void special_fixups() {
        if (d.eot < 0) {
            d.eot = first_present({"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
                                   "_<EOT>", "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>"});
            mark_control(d.eot);
        }
        if (d.eom < 0) {
            d.eom = first_present({"<|eom_id|>"});
            mark_control(d.eom);
        }
        for (int32_t id : {first_present({"<|fim_prefix|>", "<fim-prefix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>",
                                          "<fim_prefix>", "<PRE>", "\xE2\x96\x81<PRE>"}),
                           first_present({"<|fim_suffix|>", "<fim-suffix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "hole\xEF\xBD\x9C>",
                                          "<fim_suffix>", "<SUF>", "\xE2\x96\x81<SUF>"}),
                           first_present({"<|fim_middle|>", "<fim-middle>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>",
                                          "<fim_middle>", "<MID>", "\xE2\x96\x81<MID>"})})
            mark_control(id);
        std::vector<int32_t> eog;
        for (int32_t id : {first_present({"<|fim_pad|>", "<fim-pad>", "<fim_pad>"}),
                           first_present({"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}),
                           first_present({"<|file_sep|>"})}) {
            mark_control(id);
            if (id >= 0) eog.push_back(id);
        }
        for (int32_t id : {d.eos, d.eot, d.eom})
            if (id >= 0) eog.push_back(id);
        for (const char *t : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>",
                              "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
                              "</s>"}) {
            const int32_t id = d.find(t);
            if (id < 0) continue;
            mark_control(id);
            eog.push_back(id);
        }
        std::sort(eog.begin(), eog.end());
        eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
        d.eog = std::move(eog);

        // Phi-3's special tokens swallow the whitespace after them (except these three).
        std::string name;
        if (const Value *v = file.find("general.name"); v && v->as_string()) name = *v->as_string();
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
            for (auto &t : d.tokens)
                if (t.attr & (kAttrControl | kAttrUserDefined | kAttrUnknown)) t.attr |= kAttrRstrip;
            if (int32_t id = d.find("</s>"); id >= 0) d.tokens[id].attr |= kAttrRstrip;
            for (const char *t : {"<unk>", "<s>", "<|endoftext|>"})
                if (int32_t id = d.find(t); id >= 0) d.tokens[id].attr &= ~kAttrRstrip;
        }
    }

    void build_specials() {
        for (size_t i = 0; i < d.tokens.size(); ++i) {
            const TokenData &t = d.tokens[i];
            if (t.attr & (kAttrControl | kAttrUserDefined | kAttrUnknown)) d.specials.insert(t.text, static_cast<int32_t>(i));
        }
    }

    void build_byte_tokens() {
        d.byte_tokens.fill(-1);
        if (d.type == VocabType::wpm) return; // no byte tokens
        char buf[8];
        for (int b = 0; b < 256; ++b) {
            if (d.type == VocabType::spm) {
                std::snprintf(buf, sizeof buf, "<0x%02X>", b);
                d.byte_tokens[b] = d.find(buf);
            } else {
                d.byte_tokens[b] = d.find(byte_to_unicode(static_cast<uint8_t>(b)));
            }
        }
    }

    void build_spm_barriers() {
        std::array<bool, 128> inside{};
        for (const auto &t : d.tokens)
            if (t.text.size() >= 2)
                for (char c : t.text)
                    if (static_cast<uint8_t>(c) < 128) inside[static_cast<uint8_t>(c)] = true;
        for (int b = 0; b < 128; ++b) d.spm_barrier[b] = !inside[b];
    }

    void run() {
        const Value *model = file.find("tokenizer.ggml.model");
        if (!model) fail(Status::format, "%s: missing key tokenizer.ggml.model", path());
        if (!model->as_string())
            fail(Status::format, "%s: tokenizer.ggml.model is a %s, expected string", path(),
                 gguf::value_type_name(model->type()));
        d.model = *model->as_string();
        if (d.model == "llama") d.type = VocabType::spm;
        else if (d.model == "gpt2") d.type = VocabType::bpe;
        else if (d.model == "bert") d.type = VocabType::wpm;
        else fail(Status::unsupported, "%s: unsupported tokenizer model '%s' (tokenizer.ggml.model; supported: %s)",
                  path(), d.model.c_str(), kSupportedModels);

        if (const Value *pre = file.find("tokenizer.ggml.pre")) {
            if (!pre->as_string())
                fail(Status::format, "%s: tokenizer.ggml.pre is a %s, expected string", path(),
                     gguf::value_type_name(pre->type()));
            d.pre = *pre->as_string();
        }

        load_tokens();

        bool add_bos_default = false;
        if (d.type == VocabType::spm) {
            d.bos = token_id_key("tokenizer.ggml.bos_token_id", 1);
            d.eos = token_id_key("tokenizer.ggml.eos_token_id", 2);
            d.unk = token_id_key("tokenizer.ggml.unknown_token_id", 0);
            d.add_space_prefix = true;
            d.clean_spaces = false;
            add_bos_default = true;
        } else if (d.type == VocabType::wpm) {
            // BERT's [CLS] ... [SEP] at the ids of the original vocabulary unless named.
            d.bos = token_id_key("tokenizer.ggml.bos_token_id", 101);
            d.eos = token_id_key("tokenizer.ggml.eos_token_id", -1);
            d.unk = token_id_key("tokenizer.ggml.unknown_token_id", 100);
            d.add_space_prefix = false;
            d.clean_spaces = true;
            add_bos_default = true;
            d.wpm_lowercase = bool_key("tokenizer.ggml.normalizer.lowercase", true);
            d.wpm_strip_accents = bool_key("tokenizer.ggml.normalizer.strip_accents", d.wpm_lowercase);
            for (const auto &t : d.tokens) d.max_token_len = std::max(d.max_token_len, t.text.size());
        } else {
            d.bos = token_id_key("tokenizer.ggml.bos_token_id", 11);
            d.eos = token_id_key("tokenizer.ggml.eos_token_id", 11);
            d.unk = token_id_key("tokenizer.ggml.unknown_token_id", -1);
            d.pre_tokenizer = PreTokenizer::create(d.pre); // throws for an unknown name, listing the known ones
            const std::string &p = d.pre;
            d.clean_spaces = !(p == "qwen2" || p == "deepseek-r1-qwen" || p == "deepseek-llm" || p == "deepseek-coder");
            if (p == "llama3" || p == "llama-v3" || p == "llama-bpe" || p == "falcon3") {
                d.ignore_merges = true;
                add_bos_default = true;
            }
            load_merges();
        }
        const bool wpm = d.type == VocabType::wpm;
        d.sep = token_id_key("tokenizer.ggml.seperator_token_id", wpm ? 102 : -1);
        d.pad = token_id_key("tokenizer.ggml.padding_token_id", wpm ? 0 : -1);
        d.eot = token_id_key("tokenizer.ggml.eot_token_id", -1);
        d.eom = token_id_key("tokenizer.ggml.eom_token_id", -1);
        d.add_bos = bool_key("tokenizer.ggml.add_bos_token", add_bos_default);
        d.add_eos = bool_key("tokenizer.ggml.add_eos_token", false);
        d.add_space_prefix = bool_key("tokenizer.ggml.add_space_prefix", d.add_space_prefix);
        d.add_sep = wpm && bool_key("tokenizer.ggml.add_sep_token", true);
        // A flag without its token cannot be honoured; llama.cpp would emit an invalid id.
        d.add_bos = d.add_bos && d.bos >= 0;
        d.add_eos = d.add_eos && d.eos >= 0;
        d.add_sep = d.add_sep && d.sep >= 0;
        d.strip_first_space = wpm || d.add_space_prefix;

        special_fixups();
        build_specials();
        build_byte_tokens();
        if (d.type == VocabType::spm) build_spm_barriers();
    }
};

} // namespace

std::unique_ptr<VocabData> load_vocab(const gguf::GgufFile &file) {
    auto d = std::make_unique<VocabData>();
    Loader{file, *d}.run();
    return d;
}

} // namespace corvid::vocab
