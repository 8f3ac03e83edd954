// Vocab: the public face of the tokenizers (tokenize / detokenize / token data).
#include "vocab/vocab_data.h"

#include "util/error.h"

#include <algorithm>

namespace corvid {

using vocab::Fragment;
using vocab::VocabData;

Vocab::Vocab(std::unique_ptr<VocabData> d) : d_(std::move(d)) {}
Vocab::~Vocab() = default;

std::unique_ptr<Vocab> Vocab::from_gguf(const gguf::GgufFile &file) {
    return std::unique_ptr<Vocab>(new Vocab(vocab::load_vocab(file)));
}

VocabType Vocab::type() const { return d_->type; }
const std::string &Vocab::model_name() const { return d_->model; }
const std::string &Vocab::pre_name() const { return d_->pre; }
int32_t Vocab::n_tokens() const { return static_cast<int32_t>(d_->tokens.size()); }

int32_t Vocab::bos() const { return d_->bos; }
int32_t Vocab::eos() const { return d_->eos; }
int32_t Vocab::eot() const { return d_->eot; }
int32_t Vocab::eom() const { return d_->eom; }
int32_t Vocab::unk() const { return d_->unk; }
int32_t Vocab::pad() const { return d_->pad; }
int32_t Vocab::sep() const { return d_->sep; }
bool Vocab::add_bos() const { return d_->add_bos; }
bool Vocab::add_eos() const { return d_->add_eos; }
bool Vocab::add_sep() const { return d_->add_sep; }
bool Vocab::add_space_prefix() const { return d_->add_space_prefix; }
bool Vocab::clean_spaces() const { return d_->clean_spaces; }
const std::vector<int32_t> &Vocab::eog_ids() const { return d_->eog; }

bool Vocab::is_eog(int32_t id) const { return std::binary_search(d_->eog.begin(), d_->eog.end(), id); }

static void check_id(const VocabData &d, int32_t id) {
    if (id < 0 || static_cast<size_t>(id) >= d.tokens.size())
        fail(Status::invalid_argument, "token id %d is out of range (the vocabulary has %zu tokens)", id, d.tokens.size());
}

const std::string &Vocab::token_text(int32_t id) const {
    check_id(*d_, id);
    return d_->tokens[id].text;
}
float Vocab::score(int32_t id) const {
    check_id(*d_, id);
    return d_->tokens[id].score;
}
uint32_t Vocab::token_attr(int32_t id) const {
    check_id(*d_, id);
    return d_->tokens[id].attr;
}
bool Vocab::is_control(int32_t id) const { return (token_attr(id) & kAttrControl) != 0; }
int32_t Vocab::find_token(std::string_view text) const { return d_->find(text); }

std::vector<int32_t> Vocab::tokenize(std::string_view text, bool add_special, bool parse_special) const {
    const VocabData &d = *d_;
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    if (add_special && d.add_bos) out.push_back(d.bos);

    std::vector<Fragment> frags;
    vocab::split_special(d, text, parse_special, frags);

    if (d.type == VocabType::spm) {
        // Spaces become "▁"; raw text at the start or right after a special token gets a leading
        // space when the vocabulary asks for one.
        static const std::string_view kMark = "\xE2\x96\x81";
        bool after_special = true;
        std::string buf;
        for (const Fragment &f : frags) {
            if (f.token >= 0) {
                out.push_back(f.token);
                after_special = true;
                continue;
            }
            buf.clear();
            if (d.add_space_prefix && after_special) buf += kMark;
            for (size_t i = f.begin; i < f.end; ++i) {
                if (text[i] == ' ') buf += kMark;
                else buf.push_back(text[i]);
            }
            vocab::spm_tokenize(d, buf, out);
            after_special = false;
        }
    } else {
        const bool wpm = d.type == VocabType::wpm;
        for (const Fragment &f : frags) {
            const std::string_view raw = text.substr(f.begin, f.end - f.begin);
            if (f.token >= 0) out.push_back(f.token);
            else if (wpm) vocab::wpm_tokenize(d, raw, out);
            else vocab::bpe_tokenize(d, raw, out);
        }
    }

    if (add_special && d.add_sep) out.push_back(d.sep);
    if (add_special && d.add_eos) out.push_back(d.eos);
    return out;
}

std::string Vocab::token_to_piece(int32_t id, bool render_special) const {
    check_id(*d_, id);
    std::string out;
    vocab::append_piece(*d_, id, render_special, out);
    return out;
}

std::string Vocab::detokenize(const std::vector<int32_t> &ids, bool render_special) const {
    for (int32_t id : ids) check_id(*d_, id);
    std::string out;
    bool first = true;
    for (int32_t id : ids) {
        const size_t before = out.size();
        vocab::append_piece(*d_, id, render_special, out);
        if (first && d_->strip_first_space && out.size() > before && out[before] == ' ') out.erase(before, 1);
        first = false;
    }
    if (d_->clean_spaces) vocab::clean_up_spaces(out);
    return out;
}

} // namespace corvid
