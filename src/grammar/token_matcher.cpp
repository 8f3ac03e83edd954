#include "grammar/token_matcher.h"

#include "util/error.h"
#include "vocab/vocab.h"

#include <algorithm>
#include <numeric>

namespace corvid::grammar {
namespace {

// Bounds on the caches: masks are n_vocab/8 bytes each (32 KiB for 262k tokens); together
// the per-state masks (a quarter) and the shared per-context walks (the rest) stay within
// this many bytes per matcher. Past it a cache is dropped whole and refills.
constexpr size_t kCacheBytes = size_t(96) << 20;
size_t max_entries(const VocabIndex &v, size_t share_of_4) {
    return std::max<size_t>(64, kCacheBytes / 4 * share_of_4 / (static_cast<size_t>(v.n_vocab) / 8 + 1));
}
constexpr size_t kMaxStates = 200000;
// How many top frames a mask walk keeps before cutting a state from its context: deep enough
// that a JSON string or number lies within it, shallow enough that contexts share it.
constexpr int kCutDepth = 4;

void set_bit(TokenMask &m, int32_t t) { m[static_cast<size_t>(t) >> 6] |= uint64_t(1) << (t & 63); }

} // namespace

VocabIndex::VocabIndex(const Vocab &v) {
    n_vocab = v.n_tokens();
    text.resize(static_cast<size_t>(n_vocab));
    is_eog.assign(static_cast<size_t>(n_vocab), 0);
    for (int32_t id = 0; id < n_vocab; ++id) {
        const uint32_t attr = v.token_attr(id);
        if (v.is_eog(id)) {
            is_eog[static_cast<size_t>(id)] = 1;
            eog.push_back(id);
        }
        const bool special = (attr & (kAttrControl | kAttrUnknown | kAttrUnused)) != 0 || v.is_eog(id);
        if (special || (attr & kAttrUserDefined)) this->special.emplace(v.token_text(id), id);
        if (!special) text[static_cast<size_t>(id)] = v.token_to_piece(id, false);
    }
    build_trie();
}

VocabIndex::VocabIndex(const std::vector<std::string> &texts, const std::vector<int32_t> &eog_ids) {
    n_vocab = static_cast<int32_t>(texts.size());
    text = texts;
    is_eog.assign(texts.size(), 0);
    for (int32_t e : eog_ids) {
        is_eog[static_cast<size_t>(e)] = 1;
        eog.push_back(e);
        special.emplace(text[static_cast<size_t>(e)], e);
        text[static_cast<size_t>(e)].clear();
    }
    build_trie();
}

void VocabIndex::build_trie() {
    // Sort tokens by bytes; then each token's nodes are its bytes past the common prefix
    // with the previous one, and a node's subtree ends where a later token diverges above it.
    std::vector<int32_t> order;
    for (int32_t id = 0; id < n_vocab; ++id)
        if (!text[static_cast<size_t>(id)].empty() && text[static_cast<size_t>(id)].size() < 65536) order.push_back(id);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
        return text[static_cast<size_t>(a)] < text[static_cast<size_t>(b)] || (text[static_cast<size_t>(a)] == text[static_cast<size_t>(b)] && a < b);
    });
    byte = {0};
    depth = {0};
    skip = {0};
    std::vector<std::vector<int32_t>> node_toks(1);
    std::vector<uint32_t> path = {0}; // node ids along the current token's bytes
    const std::string *prev = nullptr;
    for (int32_t id : order) {
        const std::string &t = text[static_cast<size_t>(id)];
        size_t common = 0;
        if (prev)
            while (common < prev->size() && common < t.size() && (*prev)[common] == t[common]) ++common;
        while (path.size() > common + 1) {
            skip[path.back()] = static_cast<uint32_t>(byte.size());
            path.pop_back();
        }
        for (size_t i = common; i < t.size(); ++i) {
            const uint32_t n = static_cast<uint32_t>(byte.size());
            byte.push_back(static_cast<uint8_t>(t[i]));
            depth.push_back(static_cast<uint32_t>(i + 1));
            skip.push_back(0);
            node_toks.emplace_back();
            path.push_back(n);
        }
        node_toks[path.back()].push_back(id);
        max_depth = std::max<uint32_t>(max_depth, static_cast<uint32_t>(t.size()));
        prev = &t;
    }
    while (!path.empty()) {
        skip[path.back()] = static_cast<uint32_t>(byte.size());
        path.pop_back();
    }
    tok_off.assign(byte.size() + 1, 0);
    for (size_t i = 0; i < byte.size(); ++i) {
        tok_off[i + 1] = tok_off[i] + static_cast<uint32_t>(node_toks[i].size());
        toks.insert(toks.end(), node_toks[i].begin(), node_toks[i].end());
    }
}

std::vector<int32_t> resolve_token_refs(const Grammar &g, const VocabIndex &v) {
    std::vector<int32_t> ids;
    for (const TokenRef &r : g.token_refs) {
        if (r.id >= 0) {
            if (r.id >= v.n_vocab) fail(Status::invalid_argument, "grammar: token <[%d]> is beyond the vocabulary (%d tokens)", r.id, v.n_vocab);
            ids.push_back(r.id);
            continue;
        }
        auto it = v.special.find(r.text);
        if (it == v.special.end())
            fail(Status::invalid_argument, "grammar: the vocabulary has no special token %s (write text tokens as \"...\" literals)", r.text.c_str());
        ids.push_back(it->second);
    }
    return ids;
}

TokenMatcher::TokenMatcher(std::shared_ptr<const Grammar> g, std::shared_ptr<const VocabIndex> vocab)
    : v_(std::move(vocab)), m_(g, resolve_token_refs(*g, *v_)), cur_(m_.initial()) {
    walk_.resize(v_->max_depth + 1);
}

void TokenMatcher::reset() {
    cur_ = m_.initial();
    finished_ = false;
}

StateId TokenMatcher::advance(StateId s, int32_t token) {
    if (token < 0 || token >= v_->n_vocab) return kDead;
    StateId by_text = kDead;
    const std::string &t = v_->text[static_cast<size_t>(token)];
    if (!t.empty()) {
        by_text = s;
        for (char c : t) {
            by_text = m_.step(by_text, static_cast<uint8_t>(c));
            if (by_text == kDead) break;
        }
    }
    // `!<..>` ("any other token") never means end of generation.
    const StateId by_ref = m_.has_token_refs(s) ? m_.step_token_ref(s, token, !v_->is_eog[static_cast<size_t>(token)]) : kDead;
    return m_.unite(by_text, by_ref);
}

bool TokenMatcher::allows(int32_t token) {
    if (token < 0 || token >= v_->n_vocab) return false;
    if (v_->is_eog[static_cast<size_t>(token)] && m_.accepting(cur_)) return true;
    return advance(cur_, token) != kDead;
}

void TokenMatcher::accept(int32_t token) {
    if (token < 0 || token >= v_->n_vocab) fail(Status::invalid_argument, "grammar: token %d is out of range", token);
    if (v_->is_eog[static_cast<size_t>(token)] && m_.accepting(cur_)) {
        finished_ = true;
        return;
    }
    const StateId next = advance(cur_, token);
    if (next == kDead) fail(Status::invalid_argument, "grammar: token %d is not allowed here by the grammar", token);
    cur_ = next;
    bound_caches();
}

void TokenMatcher::bound_caches() {
    if (m_.n_states() > kMaxStates) {
        cache_.clear();
        local_.clear();
        cur_ = m_.compact(cur_);
    }
    if (cache_.size() > max_entries(*v_, 1)) cache_.clear();
}

const TokenMask &TokenMatcher::allowed() {
    auto it = cache_.find(cur_);
    if (it != cache_.end()) return it->second;
    TokenMask &m = cache_[cur_];
    compute(cur_, m);
    return m;
}

void TokenMatcher::compute(StateId s, TokenMask &out) {
    out.assign((static_cast<size_t>(v_->n_vocab) + 63) / 64, 0);
    if (m_.accepting(s))
        for (int32_t e : v_->eog) set_bit(out, e);
    if (m_.has_token_refs(s)) {
        std::vector<int32_t> ids, except;
        bool any_but = false;
        m_.token_ref_allowed(s, ids, any_but, except);
        for (int32_t id : ids) set_bit(out, id);
        if (any_but)
            for (int32_t t = 0; t < v_->n_vocab; ++t)
                if (!v_->is_eog[static_cast<size_t>(t)] && std::find(except.begin(), except.end(), t) == except.end()) set_bit(out, t);
    }
    if (m_.only_end(s)) return;
    // Walk from the state cut off below its top frames (shared between contexts), then follow
    // every stack that returned into a hole with its real continuation, under that node only.
    const StateId local = m_.truncate(s, kCutDepth, cut_);
    const std::vector<uint32_t> cut = cut_;
    auto it = local_.find(local);
    if (it == local_.end()) {
        if (local_.size() >= max_entries(*v_, 3)) local_.clear();
        LocalWalk lw;
        lw.accepted.assign(out.size(), 0);
        walk(1, static_cast<uint32_t>(v_->byte.size()), 0, local, lw.accepted, &lw);
        it = local_.emplace(local, std::move(lw)).first;
    }
    const LocalWalk &lw = it->second;
    for (size_t w = 0; w < out.size(); ++w) out[w] |= lw.accepted[w];
    std::vector<StateId> cont(cut.size(), kDead);
    for (const auto &[node, holes] : lw.pops)
        for (uint64_t h = holes; h; h &= h - 1) {
            const size_t k = static_cast<size_t>(__builtin_ctzll(h));
            if (k >= cut.size()) continue;
            if (cont[k] == kDead) cont[k] = m_.continuation(cut[k]);
            walk(node + 1, v_->skip[node], v_->depth[node], cont[k], out, nullptr);
        }
}

void TokenMatcher::walk(uint32_t begin, uint32_t end, uint32_t d0, StateId s, TokenMask &out, LocalWalk *lw) {
    // walk_[d] is the state after the first d bytes of the current node's path; a linear scan
    // of the preorder trie that jumps over the subtree of any byte the state refuses.
    const VocabIndex &v = *v_;
    const uint8_t *byte = v.byte.data();
    const uint32_t *depth = v.depth.data(), *skip = v.skip.data(), *off = v.tok_off.data();
    const int32_t *toks = v.toks.data();
    StateId *w = walk_.data();
    w[d0] = s;
    for (uint32_t i = begin; i < end;) {
        const StateId ps = w[depth[i] - 1];
        const int32_t cached = m_.row(ps)[byte[i]];
        const StateId ns = cached >= 0 ? static_cast<StateId>(cached) : m_.step(ps, byte[i]);
        if (ns == kDead) {
            i = skip[i];
            continue;
        }
        w[depth[i]] = ns;
        for (uint32_t k = off[i]; k < off[i + 1]; ++k) set_bit(out, toks[k]);
        if (lw && skip[i] > i + 1) {
            const uint64_t h = m_.holes(ns);
            if (h) lw->pops.push_back({i, h});
        }
        ++i;
    }
}

TokenMask TokenMatcher::allowed_brute_force() {
    TokenMask out((static_cast<size_t>(v_->n_vocab) + 63) / 64, 0);
    for (int32_t t = 0; t < v_->n_vocab; ++t) {
        bool ok = v_->is_eog[static_cast<size_t>(t)] && m_.accepting(cur_);
        if (!ok) {
            // An independent walk: no memoised rows and no trie, a fresh machine per call
            // would be slower still; the machine's own step() is the semantics under test.
            ok = advance(cur_, t) != kDead;
        }
        if (ok) set_bit(out, t);
    }
    return out;
}

} // namespace corvid::grammar
