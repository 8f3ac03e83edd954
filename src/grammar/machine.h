// The grammar's pushdown machine, run one byte at a time, with every state interned.
//
// A *stack* is a chain of frames: the top frame is a position of a terminal in `code`
// (a character class, possibly half-way through a UTF-8 sequence, or a token reference),
// the frames below it are return positions. Frames are hash-consed — (position, parent,
// partial character) gets one id — so a stack is one integer and stacks share their
// tails. A *state* is the set of stacks that are live after the input so far (a
// context-free grammar can be ambiguous): a sorted vector of frame ids, itself interned.
// Transitions state × byte → state are memoised in a dense 256-entry row per state, so
// after warm-up advancing by a byte is one array read. That turns the token-trie walk
// in the matcher into a DFA run over the trie.
//
// Calls in tail position do not push a return frame, so right recursion (`x ::= a x |`,
// which is how repetition is expanded) runs in constant stack depth.
//
// Not thread-safe (the caches grow as it runs); one per generation stream.
#pragma once

#include "grammar/grammar.h"

#include <array>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace corvid::grammar {

using StateId = uint32_t;
constexpr StateId kDead = 0; // the empty set: nothing can follow

class Machine {
public:
    // token_ids[i] is the resolved id of g.token_refs[i] (-1: not in the vocabulary; never matches).
    Machine(std::shared_ptr<const Grammar> g, std::vector<int32_t> token_ids);

    StateId initial() const { return initial_; }

    // The state after one more byte (kDead when the byte is not allowed).
    StateId step(StateId s, uint8_t byte) {
        const int32_t *row = rows_[s].get();
        if (row && row[byte] >= 0) return static_cast<StateId>(row[byte]);
        return step_slow(s, byte);
    }
    // Direct access to a state's transition row for tight loops: entries are -1 until
    // computed (then call step()). Valid until the next call that may add states.
    const int32_t *row(StateId s) {
        const int32_t *r = rows_[s].get();
        return r ? r : alloc_row(s);
    }

    // The state after a whole token matched by a token reference (`<[id]>`, `!<[id]>`).
    // Character classes do not take part: a token matched by its text goes through step().
    // `negated_ok` false: `!<..>` does not match this token (end-of-generation tokens).
    StateId step_token_ref(StateId s, int32_t token, bool negated_ok = true);
    bool has_token_refs(StateId s) const { return info_[s].has_token_refs; }
    // Tokens that the state's token references allow: exact ids, and whether some `!<..>`
    // allows every token but `not_except` (a list of ids that it does not allow).
    void token_ref_allowed(StateId s, std::vector<int32_t> &ids, bool &any_but, std::vector<int32_t> &any_but_except) const;

    // Whether the grammar may end here (some stack is empty).
    bool accepting(StateId s) const { return info_[s].accepting; }

    // ---- Cutting states off from their context (what makes masks reusable across contexts).
    // truncate() keeps the top `depth` frames of every stack and replaces what lies below by
    // a *hole* (ids 1..kMaxHoles, numbered per distinct cut-off parent, which go to `cut`).
    // Walking the trie from the truncated state is the same as from the real one until a
    // stack returns into a hole: the state then holds that hole's marker (holes() says which),
    // and the real continuation is continuation(cut[k-1]). Truncated states do not depend on
    // what lies below the cut, so their walks are shared by every context that has the same
    // top. Returns `s` itself when no stack is deeper than `depth`.
    StateId truncate(StateId s, int depth, std::vector<uint32_t> &cut);
    uint64_t holes(StateId s) const { return info_[s].holes; }
    StateId continuation(uint32_t parent_frame);
    // ---- Runs of one character class (class_run.h).
    // A class C such that every character of C takes `s` to the same state: the stacks whose
    // top reads a class between characters read exactly C's characters or none of them.
    // (Holes do not matter: they never read text.) Returns the id of a class with that content (the
    // largest such class of at least `min_size` code points), or -1. Cached per state.
    int32_t uniform_class(StateId s, uint64_t min_size);
    // Whether two class ids have the same content.
    bool same_class(uint32_t a, uint32_t b) const { return canon_[a] == canon_[b]; }
    // Whether class id c is the first one with its content; how many code points it holds.
    bool is_canonical_class(uint32_t c) const { return canon_[c] == c; }
    uint64_t class_size(uint32_t c) const { return class_size_[c]; }

    // True when nothing but the end can follow.
    bool only_end(StateId s) const { return sets_[s].size() == 1 && info_[s].accepting; }

    size_t n_states() const { return sets_.size(); }
    size_t n_frames() const { return frames_.size(); }

    // Drops every cached state and transition (frames stay; they are small and shared),
    // keeping `keep` valid under a new id, which is returned. Called when the caches pass
    // their bound, so that a long generation over a huge grammar stays bounded.
    StateId compact(StateId keep);

    // The state holding the stacks of both (a token that is matched both as text and by a
    // token reference leads to both).
    StateId unite(StateId a, StateId b);

    const Grammar &grammar() const { return *g_; }

private:
    struct Frame {
        uint32_t pos, parent, partial;
        bool operator==(const Frame &o) const { return pos == o.pos && parent == o.parent && partial == o.partial; }
    };
    struct FrameHash {
        size_t operator()(const Frame &f) const {
            uint64_t h = (uint64_t(f.pos) * 0x9E3779B97F4A7C15ull) ^ (uint64_t(f.parent) * 0xC2B2AE3D27D4EB4Full) ^ f.partial;
            return static_cast<size_t>(h ^ (h >> 29));
        }
    };
    struct SetHash {
        size_t operator()(const std::vector<uint32_t> &v) const {
            uint64_t h = 1469598103934665603ull;
            for (uint32_t x : v) h = (h ^ x) * 1099511628211ull;
            return static_cast<size_t>(h);
        }
    };
    struct Info {
        bool accepting = false, has_token_refs = false;
        uint64_t holes = 0; // bit k-1: hole marker k is in the set
        int32_t uniform = -2; // uniform_class(): -2 not computed yet, else class id or -1
        uint64_t uniform_min = 0; // ... for this min_size
    };

    std::shared_ptr<const Grammar> g_;
    std::vector<int32_t> token_ids_;
    std::vector<uint32_t> canon_;     // per class: the first class id with the same ranges
    std::vector<uint64_t> class_size_; // per class: code points
    std::vector<Frame> frames_;
    std::unordered_map<Frame, uint32_t, FrameHash> frame_ids_;
    std::vector<std::vector<uint32_t>> sets_;
    std::vector<Info> info_;
    std::vector<std::unique_ptr<int32_t[]>> rows_;
    std::unordered_map<std::vector<uint32_t>, StateId, SetHash> set_ids_;
    StateId initial_ = kDead;
    // Scratch for expand().
    std::vector<std::pair<uint32_t, uint32_t>> work_;
    std::unordered_set<uint64_t> seen_;

    uint32_t frame(uint32_t pos, uint32_t parent, uint32_t partial);
    // Adds to `out` the terminal-topped stacks reachable from position `pos` under `parent`
    // without consuming input (following rule calls and returns).
    void expand(uint32_t pos, uint32_t parent, std::vector<uint32_t> &out);
    StateId intern(std::vector<uint32_t> &frames);
    StateId step_slow(StateId s, uint8_t byte);
    const int32_t *alloc_row(StateId s);
};

constexpr uint32_t kNoParent = UINT32_MAX;
constexpr uint32_t kAcceptFrame = 0; // frame id 0: the empty stack (the root rule finished)
constexpr uint32_t kMaxHoles = 64;   // frame ids 1..64: hole markers (see Machine::truncate)
inline bool is_marker(uint32_t frame) { return frame <= kMaxHoles; }

// Limits on the state a grammar may build up; past them the machine throws Error(unsupported)
// ("too ambiguous") instead of exhausting memory.
constexpr size_t kMaxStacksPerState = 4096;
constexpr size_t kMaxFrames = size_t(1) << 24;

// Convenience for tests and tools: whether `text` is a complete sentence of the grammar
// (full) or can be continued into one (prefix). Token references never match text.
bool matches(const std::shared_ptr<const Grammar> &g, std::string_view text, bool full = true);

} // namespace corvid::grammar
