#include "vocab/pretokenizer.h"

#include "util/error.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstring>

namespace corvid::vocab {

namespace {

// The patterns, written from the tokenizer definitions of the models that use them.
// Contractions are spelled with explicit case classes rather than (?i) so that caseless
// Unicode matching cannot widen them (e.g. 'ſ).
const char *const kGpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

const char *const kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const char *const kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// CJK ideographs, the block range DeepSeek groups with them, and Hangul syllables.
#define CORVID_CJK "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"

// DeepSeek LLM's cased-letter class (Latin, Greek, Cyrillic, Armenian, Georgian, Cherokee,
// letterlike symbols, fullwidth Latin, Deseret, Osage, Old Hungarian, Warang Citi, Adlam...).
const char *const kDeepseekLetters =
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}"
    "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}"
    "\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}"
    "\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"
    "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"
    "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}"
    "\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}"
    "\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}"
    "\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}"
    "\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}"
    "\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}"
    "\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}"
    "\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"
    "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"
    "\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+";

// ASCII punctuation and symbols, their fullwidth forms, general punctuation quotes, CJK marks.
const char *const kDeepseekPunct =
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+";

struct PreDef {
    const char *names; // space-separated aliases
    std::vector<const char *> patterns;
};

const std::vector<PreDef> &definitions() {
    static const std::vector<PreDef> defs = {
        {"default", {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"}},
        {"gpt-2 phi-2 mpt olmo", {kGpt2}},
        {"llama3 llama-v3 llama-bpe falcon3", {kLlama3}},
        {"qwen2 deepseek-r1-qwen", {kQwen2}},
        {"deepseek-llm", {"[\\r\\n]", kDeepseekLetters, kDeepseekPunct, "\\s+$", CORVID_CJK, "\\p{N}+"}},
        {"deepseek-coder", {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", CORVID_CJK, "\\p{N}"}},
        {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"}},
        {"starcoder refact smollm", {"\\p{N}", kGpt2}},
    };
    return defs;
}

bool has_name(const char *names, const std::string &name) {
    const char *p = names;
    while (*p) {
        const char *end = std::strchr(p, ' ');
        const size_t len = end ? static_cast<size_t>(end - p) : std::strlen(p);
        if (len == name.size() && std::memcmp(p, name.data(), len) == 0) return true;
        if (!end) break;
        p = end + 1;
    }
    return false;
}

} // namespace

std::string PreTokenizer::supported_names() {
    std::string out;
    for (const auto &d : definitions()) {
        if (!out.empty()) out += ", ";
        for (const char *p = d.names; *p; ++p) {
            if (*p == ' ') out += ", ";
            else out += *p;
        }
    }
    return out;
}

std::unique_ptr<PreTokenizer> PreTokenizer::create(const std::string &name) {
    const PreDef *def = nullptr;
    for (const auto &d : definitions())
        if (has_name(d.names, name)) def = &d;
    if (!def)
        fail(Status::unsupported, "tokenizer.ggml.pre: unsupported pre-tokenizer '%s' (supported: %s)",
             name.c_str(), supported_names().c_str());

    std::unique_ptr<PreTokenizer> pt(new PreTokenizer());
    pt->name_ = name;
    for (const char *pattern : def->patterns) {
        int err = 0;
        PCRE2_SIZE err_off = 0;
        pcre2_code *code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                                         PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY,
                                         &err, &err_off, nullptr);
        if (!code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            fail(Status::internal, "pre-tokenizer '%s': pattern does not compile at %zu: %s", name.c_str(),
                 static_cast<size_t>(err_off), reinterpret_cast<const char *>(msg));
        }
        pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); // falls back to the interpreter if JIT is unavailable
        pt->codes_.push_back(code);
    }
    return pt;
}

PreTokenizer::~PreTokenizer() {
    for (void *c : codes_) pcre2_code_free(static_cast<pcre2_code *>(c));
}

namespace {

// Per-call PCRE2 state: match data and a JIT stack large enough for long whitespace runs.
struct MatchState {
    pcre2_match_data *md = nullptr;
    pcre2_match_context *mctx = nullptr;
    pcre2_jit_stack *stack = nullptr;

    MatchState() {
        md = pcre2_match_data_create(1, nullptr);
        mctx = pcre2_match_context_create(nullptr);
        stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
        if (!md || !mctx || !stack) {
            release();
            fail(Status::out_of_memory, "pre-tokenizer: cannot allocate PCRE2 match state");
        }
        pcre2_jit_stack_assign(mctx, nullptr, stack);
    }
    ~MatchState() { release(); }
    void release() {
        if (md) pcre2_match_data_free(md);
        if (mctx) pcre2_match_context_free(mctx);
        if (stack) pcre2_jit_stack_free(stack);
        md = nullptr;
        mctx = nullptr;
        stack = nullptr;
    }
};

} // namespace

void PreTokenizer::split(std::string_view text, std::vector<std::pair<size_t, size_t>> &pieces) const {
    pieces.clear();
    if (text.empty()) return;
    pieces.emplace_back(0, text.size());
    MatchState st;
    std::vector<std::pair<size_t, size_t>> next;
    const auto *subject_all = reinterpret_cast<PCRE2_SPTR>(text.data());
    for (void *vc : codes_) {
        auto *code = static_cast<pcre2_code *>(vc);
        next.clear();
        next.reserve(pieces.size() * 2);
        for (const auto &[begin, end] : pieces) {
            // Each piece is its own subject, so look-ahead and $ stop at its end.
            const PCRE2_SPTR subject = subject_all + begin;
            const PCRE2_SIZE len = end - begin;
            PCRE2_SIZE pos = 0;     // start of text not yet emitted
            PCRE2_SIZE search = 0;  // where the next search starts
            while (search < len) {
                const int rc = pcre2_match(code, subject, len, search, 0, st.md, st.mctx);
                if (rc == PCRE2_ERROR_NOMATCH) break;
                if (rc < 0) {
                    PCRE2_UCHAR msg[256];
                    pcre2_get_error_message(rc, msg, sizeof msg);
                    fail(Status::internal, "pre-tokenizer '%s': match failed: %s", name_.c_str(),
                         reinterpret_cast<const char *>(msg));
                }
                const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st.md);
                const PCRE2_SIZE ms = ov[0], me = ov[1];
                if (me == ms) { // an empty match cuts nothing; step over one character
                    search = ms + 1;
                    while (search < len && (subject[search] & 0xC0) == 0x80) ++search;
                    continue;
                }
                if (ms > pos) next.emplace_back(begin + pos, begin + ms);
                next.emplace_back(begin + ms, begin + me);
                pos = search = me;
            }
            if (pos < len) next.emplace_back(begin + pos, end);
        }
        pieces.swap(next);
    }
}

} // namespace corvid::vocab
