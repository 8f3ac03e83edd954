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

std::shared_ptr<const ClassRun> VocabIndex::class_run(const CharClass &c, uint32_t root) const {
    auto key = std::make_pair(c.ranges, root);
    {
        std::lock_guard<std::mutex> lock(runs_mu_);
        auto it = runs_.find(key);
        if (it != runs_.end()) return it->second;
    }
    // Built outside the lock (a few ms); two threads may build the same run, one is kept.
    auto run = std::make_shared<const ClassRun>(build_class_run(*this, c, root));
    const size_t bytes = run_bytes(*run) + 64;
    std::lock_guard<std::mutex> lock(runs_mu_);
    if (runs_bytes_ + bytes > kClassRunBytes) {
        runs_.clear();
        runs_bytes_ = 0;
    }
    auto [it, added] = runs_.emplace(std::move(key), run);
    if (added) runs_bytes_ += bytes;
    return it->second;
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
    // The whole-trie runs of the grammar's large classes are built now (once per vocabulary,
    // a few ms each), so that the first mask inside a string does not pay for them.
    for (uint32_t c = 0; c < g->classes.size(); ++c)
        if (m_.is_canonical_class(c) && m_.class_size(c) >= min_run_class_) v_->class_run(g->classes[c], 0);
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
        walk_tree(0, local, lw.accepted, &lw);
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
            walk_tree(node, cont[k], out, nullptr);
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

void TokenMatcher::walk_tree(uint32_t root, StateId s, TokenMask &out, LocalWalk *lw, int nesting) {
    const uint32_t end = v_->subtree_end(root);
    // Runs nest below exits; past a few dozen levels (a token that goes in and out of the
    // class many times) the rest is walked plainly, so that the recursion stays shallow.
    constexpr int kMaxRunNesting = 32;
    const int32_t cls = end - root > min_run_nodes_ && nesting < kMaxRunNesting ? m_.uniform_class(s, min_run_class_) : -1;
    if (cls < 0) {
        walk(root + 1, end, v_->depth[root], s, out, lw);
        return;
    }
    const std::shared_ptr<const ClassRun> run_ptr = v_->class_run(m_.grammar().classes[static_cast<uint32_t>(cls)], root);
    const ClassRun &run = *run_ptr;
    ++run_walks_;
    auto step_member = [&](StateId x) {
        for (char b : run.member) x = m_.step(x, static_cast<uint8_t>(b));
        return x;
    };
    // chain[j]: the state after j characters of the class; the first `n` of them read the
    // class uniformly (a state that steps to itself does so for ever). A local vector: the
    // walks below the exits recurse.
    std::vector<StateId> chain{s};
    uint32_t n = 1;
    for (;;) {
        const StateId next = step_member(chain.back());
        if (next == chain.back()) {
            n = run.max_need + 1;
            break;
        }
        chain.push_back(next);
        if (n >= run.max_need) break;
        const int32_t c = m_.uniform_class(next, min_run_class_);
        if (c < 0 || !m_.same_class(static_cast<uint32_t>(c), static_cast<uint32_t>(cls))) break;
        ++n;
    }
    auto state_after = [&](uint32_t j) { return chain[std::min<size_t>(j, chain.size() - 1)]; };
    // Tokens of the class that need at most n uniform states are allowed.
    const uint32_t upto = run.need_off[std::min(n, run.max_need) + 1];
    if (upto == run.toks.size() && !run.all.empty()) {
        for (size_t w = 0; w < out.size(); ++w) out[w] |= run.all[w];
    } else {
        for (uint32_t k = 0; k < upto; ++k) set_bit(out, run.toks[k]);
    }
    const uint8_t *byte = v_->byte.data();
    const uint32_t *skip = v_->skip.data(), *off = v_->tok_off.data();
    const uint32_t n_counts = static_cast<uint32_t>(run.exit_off.size() - 1);
    // A stack that returned into a hole after j characters is followed (by compute()) below
    // every node that ends the j-th character, as walk() would have recorded it.
    if (lw)
        for (uint32_t j = 1; j < std::min(n, n_counts); ++j)
            if (const uint64_t h = m_.holes(state_after(j)))
                for (uint32_t k = run.bound_off[j]; k < run.bound_off[j + 1]; ++k) lw->pops.push_back({run.bounds[k], h});
    // The exits that the chain reaches: the real state at the exit's parent is the chain's
    // after `count` characters and the unfinished one's bytes.
    for (uint32_t c = 0; c < std::min(n, n_counts); ++c) {
        const StateId base = state_after(c);
        for (uint32_t k = run.exit_off[c]; k < run.exit_off[c + 1]; ++k) {
            const ClassRun::Exit &e = run.exits[k];
            StateId x = base;
            for (uint8_t p = 0; p < e.n_partial && x != kDead; ++p) x = m_.step(x, e.partial[p]);
            if (x != kDead) x = m_.step(x, byte[e.node]);
            if (x == kDead) continue;
            for (uint32_t t = off[e.node]; t < off[e.node + 1]; ++t) set_bit(out, v_->toks[t]);
            if (skip[e.node] == e.node + 1) continue;
            if (lw && m_.holes(x)) lw->pops.push_back({e.node, m_.holes(x)});
            walk_tree(e.node, x, out, lw, nesting + 1);
        }
    }
    // Where the chain stops early, the nodes that end its last whole character go on with
    // their own walks.
    if (n < n_counts) {
        const StateId x = state_after(n);
        for (uint32_t k = run.bound_off[n]; k < run.bound_off[n + 1]; ++k) {
            const uint32_t node = run.bounds[k];
            if (lw && m_.holes(x)) lw->pops.push_back({node, m_.holes(x)});
            walk_tree(node, x, out, lw, nesting + 1);
        }
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
