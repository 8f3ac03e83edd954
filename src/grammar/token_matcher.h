// Grammar × vocabulary: which tokens may come next, and advancing by the chosen one.
//
// VocabIndex is built once per vocabulary: the bytes of every text token, in a trie laid
// out in preorder (so walking it is a linear scan that skips dead subtrees), plus the
// end-of-generation ids. Control tokens are not text: only token references (`<think>`,
// `<[id]>`) match them, and EOG tokens are allowed exactly where the grammar may end.
//
// TokenMatcher computes the allowed set by running the grammar's Machine over the trie.
// Every state's transitions are memoised, so the walk is one array read per trie node it
// enters, and a state's whole mask is cached (states recur: every character of a JSON
// string leaves the parser in the same state). Checking a single token is a walk over
// its bytes only — the sampler uses that to skip the mask when the model's choice fits.
#pragma once

#include "grammar/class_run.h"
#include "grammar/machine.h"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace corvid {
class Vocab;
}

namespace corvid::grammar {

struct VocabIndex {
    explicit VocabIndex(const Vocab &v);
    int32_t n_vocab = 0;
    std::vector<std::string> text; // the token's bytes; empty for tokens that are not text
    std::vector<uint8_t> is_eog;
    std::vector<int32_t> eog;
    // Trie in preorder; node 0 is the root. Node i>0 has byte[i], depth[i] (>= 1), skip[i]
    // (the first node after its subtree) and the tokens toks[tok_off[i] .. tok_off[i+1]).
    std::vector<uint8_t> byte;
    std::vector<uint32_t> depth, skip, tok_off;
    std::vector<int32_t> toks;
    uint32_t max_depth = 0;
    // The first node after the subtree below `node` (node 0: the whole trie).
    uint32_t subtree_end(uint32_t node) const { return node == 0 ? static_cast<uint32_t>(byte.size()) : skip[node]; }
    // Special-token texts to ids, for `<think>`-style references.
    std::unordered_map<std::string, int32_t> special;

    // For tests: a vocabulary given as token texts (all text tokens) plus EOG ids.
    VocabIndex(const std::vector<std::string> &texts, const std::vector<int32_t> &eog_ids);

    // The class's run below trie node `root` (class_run.h), built on first use (one pass
    // over the subtree) and kept for every grammar that uses a class with the same content;
    // past kClassRunBytes the cache starts over. Thread-safe: one VocabIndex serves all of a
    // model's matchers. The result stays valid while the caller holds it.
    std::shared_ptr<const ClassRun> class_run(const CharClass &c, uint32_t root) const;
    static constexpr size_t kClassRunBytes = size_t(64) << 20;

private:
    void build_trie();
    mutable std::mutex runs_mu_;
    mutable std::map<std::pair<std::vector<std::pair<uint32_t, uint32_t>>, uint32_t>, std::shared_ptr<const ClassRun>> runs_;
    mutable size_t runs_bytes_ = 0;
};

using TokenMask = std::vector<uint64_t>; // bit t set: token t allowed

class TokenMatcher {
public:
    // Throws Error(invalid_argument) naming a token reference the vocabulary lacks.
    TokenMatcher(std::shared_ptr<const Grammar> g, std::shared_ptr<const VocabIndex> vocab);

    // The tokens allowed next (cached per state; valid until the next accept/reset).
    const TokenMask &allowed();
    bool allows(int32_t token);
    // Advances by `token`. Throws Error(invalid_argument) when the grammar does not allow it.
    void accept(int32_t token);
    void reset();
    bool can_end() const { return m_.accepting(cur_); }
    bool finished() const { return finished_; }
    const VocabIndex &vocab() const { return *v_; }

    // The mask of the current state computed without any cache or trie: every token's bytes
    // run through the machine on their own. For tests (brute-force check) only.
    TokenMask allowed_brute_force();

    size_t cache_entries() const { return cache_.size(); }
    // For benchmarks: every mask recomputed (`all`: the shared per-context walks too).
    void clear_mask_cache(bool all = false) {
        cache_.clear();
        if (all) local_.clear();
    }
    size_t n_states() const { return m_.n_states(); }
    // How many trie walks went through a class run (for tests: the shortcut was taken).
    size_t class_run_walks() const { return run_walks_; }
    // For tests: take the class-run shortcut from classes of at least `min_class` code points
    // and subtrees of more than `min_nodes` trie nodes (defaults 32 and 2048), so that a small
    // vocabulary exercises it everywhere.
    void set_run_thresholds(uint64_t min_class, uint32_t min_nodes) {
        min_run_class_ = min_class;
        min_run_nodes_ = min_nodes;
    }

private:
    std::shared_ptr<const VocabIndex> v_;
    Machine m_;
    StateId cur_;
    bool finished_ = false;
    std::unordered_map<StateId, TokenMask> cache_;
    std::vector<StateId> walk_; // per trie depth

    // What a walk from a truncated state (Machine::truncate) finds: the tokens it accepts
    // outright, and the trie nodes where a stack returned into a hole (with the holes), below
    // which the real continuation decides. Shared by all contexts with the same top frames.
    struct LocalWalk {
        TokenMask accepted;
        std::vector<std::pair<uint32_t, uint64_t>> pops; // (trie node, hole bits)
    };
    std::unordered_map<StateId, LocalWalk> local_;
    std::vector<uint32_t> cut_;
    // Trie nodes [begin, end) (a subtree's contents), whose parent is at depth d0, from state s.
    void walk(uint32_t begin, uint32_t end, uint32_t d0, StateId s, TokenMask &out, LocalWalk *pops);
    // The subtree below trie node `root` (0: the whole trie), from state s at the root:
    // through the class run when s reads a large class uniformly and the subtree is large
    // (only what lies below the run's exits is walked, by this same function), else walk().
    void walk_tree(uint32_t root, StateId s, TokenMask &out, LocalWalk *pops, int nesting = 0);
    size_t run_walks_ = 0;
    // Classes smaller than this, and subtrees smaller than that, are walked as they are: few
    // tokens are made of the class, or the walk is short anyway.
    uint64_t min_run_class_ = 32;
    uint32_t min_run_nodes_ = 2048;

    StateId advance(StateId s, int32_t token);
    void compute(StateId s, TokenMask &out);
    void bound_caches();
};

inline bool mask_has(const TokenMask &m, int32_t t) { return (m[static_cast<size_t>(t) >> 6] >> (t & 63)) & 1; }

std::vector<int32_t> resolve_token_refs(const Grammar &g, const VocabIndex &v);

} // namespace corvid::grammar
