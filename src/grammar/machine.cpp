#include "grammar/machine.h"

#include "grammar/class_run.h"
#include "grammar/utf8_partial.h"

#include "util/error.h"

#include <algorithm>
#include <map>

namespace corvid::grammar {
namespace {

// A partly read UTF-8 character, packed into a frame's `partial`: total length (2..4),
// continuation bytes still missing (1..3), and the bits read so far. 0 means none.
uint32_t pack(uint32_t len, uint32_t rem, uint32_t val) { return (len << 28) | (rem << 24) | val; }
uint32_t p_len(uint32_t p) { return p >> 28; }
uint32_t p_rem(uint32_t p) { return (p >> 24) & 0xF; }
uint32_t p_val(uint32_t p) { return p & 0xFFFFFF; }

using utf8::feasible;
using utf8::max_cp;
using utf8::min_cp;

// The partial state for "the rest of this character can be anything": when every completion
// of the bytes so far is a valid character in the class, which completion it will be does not
// matter, and forgetting it makes the many lead bytes of a "[^\"]" share one state.
constexpr uint32_t kAnyLen = 1;

// Partial state after reading a byte: canonical when all completions are members.
uint32_t partial_after(const CharClass &c, uint32_t len, uint32_t rem, uint32_t val) {
    const uint32_t shift = 6 * rem, lo = val << shift, hi = lo | ((1u << shift) - 1);
    if (lo >= min_cp(len) && hi <= max_cp(len) && c.contains_range(lo, hi)) return pack(kAnyLen, rem, 0);
    return pack(len, rem, val);
}

} // namespace

Machine::Machine(std::shared_ptr<const Grammar> g, std::vector<int32_t> token_ids)
    : g_(std::move(g)), token_ids_(std::move(token_ids)) {
    std::map<std::vector<std::pair<uint32_t, uint32_t>>, uint32_t> first;
    for (uint32_t c = 0; c < g_->classes.size(); ++c) {
        canon_.push_back(first.emplace(g_->classes[c].ranges, c).first->second);
        class_size_.push_back(grammar::class_size(g_->classes[c]));
    }
    frames_.push_back({kNoParent, kNoParent, 0}); // kAcceptFrame
    for (uint32_t k = 1; k <= kMaxHoles; ++k) frames_.push_back({kNoParent, k, 0}); // hole markers
    sets_.emplace_back();                          // kDead
    info_.emplace_back();
    rows_.emplace_back();
    set_ids_.emplace(std::vector<uint32_t>{}, kDead);
    std::vector<uint32_t> init;
    for (uint32_t a : g_->rule_alts[g_->root]) expand(a, kNoParent, init);
    initial_ = intern(init);
}

uint32_t Machine::frame(uint32_t pos, uint32_t parent, uint32_t partial) {
    const Frame f{pos, parent, partial};
    auto it = frame_ids_.find(f);
    if (it != frame_ids_.end()) return it->second;
    if (frames_.size() >= kMaxFrames)
        fail(Status::unsupported, "grammar: the matcher state grew past %zu frames (the grammar is too ambiguous or nests too deeply)", kMaxFrames);
    const uint32_t id = static_cast<uint32_t>(frames_.size());
    frames_.push_back(f);
    frame_ids_.emplace(f, id);
    return id;
}

void Machine::expand(uint32_t pos, uint32_t parent, std::vector<uint32_t> &out) {
    // Worklist instead of recursion: deep grammars must not overflow the stack. `seen_`
    // stops repeated (position, parent) pairs, which ambiguity produces often.
    work_.clear();
    seen_.clear();
    work_.push_back({pos, parent});
    size_t steps = 0;
    while (!work_.empty()) {
        const auto [p, par] = work_.back();
        work_.pop_back();
        const uint64_t key = (uint64_t(p) << 32) | par;
        if (!seen_.insert(key).second) continue;
        if (++steps > 4 * kMaxStacksPerState)
            fail(Status::unsupported, "grammar: one step expands into more than %zu alternatives (the grammar is too ambiguous)", kMaxStacksPerState);
        const Element &e = g_->code[p];
        switch (e.op) {
        case Op::chars:
        case Op::token:
        case Op::not_token: out.push_back(frame(p, par, 0)); break;
        case Op::rule: {
            // Tail call: when the reference ends its alternative, return straight to `par`.
            const uint32_t np = g_->code[p + 1].op == Op::end ? par : frame(p + 1, par, 0);
            const auto &alts = g_->rule_alts[e.arg];
            for (auto it = alts.rbegin(); it != alts.rend(); ++it) work_.push_back({*it, np});
            break;
        }
        case Op::end:
            if (par == kNoParent) out.push_back(kAcceptFrame);
            else if (is_marker(par)) out.push_back(par); // returned into a hole
            else work_.push_back({frames_[par].pos, frames_[par].parent});
            break;
        }
    }
}

StateId Machine::intern(std::vector<uint32_t> &f) {
    std::sort(f.begin(), f.end());
    f.erase(std::unique(f.begin(), f.end()), f.end());
    if (f.size() > kMaxStacksPerState)
        fail(Status::unsupported, "grammar: more than %zu parses are alive at once (the grammar is too ambiguous)", kMaxStacksPerState);
    auto it = set_ids_.find(f);
    if (it != set_ids_.end()) return it->second;
    const StateId id = static_cast<StateId>(sets_.size());
    Info inf;
    for (uint32_t x : f) {
        if (x == kAcceptFrame) inf.accepting = true;
        else if (is_marker(x)) inf.holes |= uint64_t(1) << (x - 1);
        else {
            const Op op = g_->code[frames_[x].pos].op;
            inf.has_token_refs = inf.has_token_refs || op == Op::token || op == Op::not_token;
        }
    }
    sets_.push_back(f);
    info_.push_back(inf);
    rows_.emplace_back();
    set_ids_.emplace(f, id);
    return id;
}

const int32_t *Machine::alloc_row(StateId s) {
    rows_[s].reset(new int32_t[256]);
    std::fill(rows_[s].get(), rows_[s].get() + 256, -1);
    return rows_[s].get();
}

StateId Machine::step_slow(StateId s, uint8_t b) {
    std::vector<uint32_t> out;
    // Copy: expand() may grow sets_ indirectly? It does not, but frames_ grows, so keep ids only.
    const std::vector<uint32_t> in = sets_[s];
    for (uint32_t fid : in) {
        if (is_marker(fid)) continue;
        const Frame f = frames_[fid];
        const Element &e = g_->code[f.pos];
        if (e.op != Op::chars) continue;
        const CharClass &c = g_->classes[e.arg];
        if (f.partial == 0) {
            if (b < 0x80) {
                if (c.contains(b)) expand(f.pos + 1, f.parent, out);
                continue;
            }
            const uint32_t len = utf8::lead_len(b);
            if (len == 0) continue; // a continuation byte or one that never occurs in UTF-8
            const uint32_t val = b & (0x7F >> len);
            if (feasible(c, len, len - 1, val)) out.push_back(frame(f.pos, f.parent, partial_after(c, len, len - 1, val)));
        } else {
            if ((b & 0xC0) != 0x80) continue;
            if (p_len(f.partial) == kAnyLen) { // any continuation byte completes a member
                if (p_rem(f.partial) == 1) expand(f.pos + 1, f.parent, out);
                else out.push_back(frame(f.pos, f.parent, pack(kAnyLen, p_rem(f.partial) - 1, 0)));
                continue;
            }
            const uint32_t len = p_len(f.partial), rem = p_rem(f.partial) - 1, val = (p_val(f.partial) << 6) | (b & 0x3F);
            if (rem == 0) {
                if (utf8::member(c, len, val)) expand(f.pos + 1, f.parent, out);
            } else if (feasible(c, len, rem, val)) {
                out.push_back(frame(f.pos, f.parent, partial_after(c, len, rem, val)));
            }
        }
    }
    const StateId next = intern(out);
    if (!rows_[s]) alloc_row(s);
    rows_[s][b] = static_cast<int32_t>(next);
    return next;
}

StateId Machine::step_token_ref(StateId s, int32_t token, bool negated_ok) {
    if (!info_[s].has_token_refs) return kDead;
    std::vector<uint32_t> out;
    const std::vector<uint32_t> in = sets_[s];
    for (uint32_t fid : in) {
        if (is_marker(fid)) continue;
        const Frame f = frames_[fid];
        const Element &e = g_->code[f.pos];
        const int32_t id = e.op == Op::token || e.op == Op::not_token ? token_ids_[e.arg] : -1;
        if ((e.op == Op::token && id == token) || (e.op == Op::not_token && negated_ok && id != token)) expand(f.pos + 1, f.parent, out);
    }
    return intern(out);
}

void Machine::token_ref_allowed(StateId s, std::vector<int32_t> &ids, bool &any_but, std::vector<int32_t> &except) const {
    ids.clear();
    except.clear();
    any_but = false;
    if (!info_[s].has_token_refs) return;
    bool first = true;
    for (uint32_t fid : sets_[s]) {
        if (is_marker(fid)) continue;
        const Element &e = g_->code[frames_[fid].pos];
        if (e.op == Op::token && token_ids_[e.arg] >= 0) ids.push_back(token_ids_[e.arg]);
        if (e.op == Op::not_token) {
            // The union of "all but x" and "all but y" is "all but the ids every one of them excludes".
            const int32_t x = token_ids_[e.arg];
            if (first) {
                if (x >= 0) except.push_back(x);
                first = false;
            } else if (std::find(except.begin(), except.end(), x) == except.end()) {
                except.clear();
            }
            any_but = true;
        }
    }
}

namespace {
bool disjoint(const CharClass &a, const CharClass &b) {
    size_t i = 0, j = 0;
    while (i < a.ranges.size() && j < b.ranges.size()) {
        if (a.ranges[i].second < b.ranges[j].first) ++i;
        else if (b.ranges[j].second < a.ranges[i].first) ++j;
        else return false;
    }
    return true;
}
} // namespace

int32_t Machine::uniform_class(StateId s, uint64_t min_size) {
    Info &inf = info_[s];
    if (inf.uniform != -2 && inf.uniform_min == min_size) return inf.uniform;
    // A stack in the middle of a character dies on the first byte of any character, and
    // token references and the accept frame never read text: only the classes of stacks
    // between characters decide. All characters of C lead to one state when each of those
    // classes is C itself or shares nothing with it.
    std::vector<uint32_t> cls;
    for (uint32_t fid : sets_[s]) {
        if (is_marker(fid)) continue;
        const Frame &f = frames_[fid];
        const Element &e = g_->code[f.pos];
        if (e.op == Op::chars && f.partial == 0) cls.push_back(canon_[e.arg]);
    }
    std::sort(cls.begin(), cls.end());
    cls.erase(std::unique(cls.begin(), cls.end()), cls.end());
    int32_t best = -1;
    for (uint32_t c : cls) {
        if (class_size_[c] < min_size || (best >= 0 && class_size_[c] <= class_size_[static_cast<uint32_t>(best)])) continue;
        bool ok = true;
        for (uint32_t d : cls) ok = ok && (d == c || disjoint(g_->classes[c], g_->classes[d]));
        if (ok) best = static_cast<int32_t>(c);
    }
    inf.uniform = best;
    inf.uniform_min = min_size;
    return best;
}

StateId Machine::compact(StateId keep) {
    std::vector<uint32_t> k = sets_[keep];
    sets_.resize(1);
    info_.resize(1);
    rows_.resize(1);
    set_ids_.clear();
    set_ids_.emplace(std::vector<uint32_t>{}, kDead);
    std::vector<uint32_t> init;
    for (uint32_t a : g_->rule_alts[g_->root]) expand(a, kNoParent, init);
    initial_ = intern(init);
    return intern(k);
}

StateId Machine::truncate(StateId s, int depth, std::vector<uint32_t> &cut) {
    cut.clear();
    std::vector<uint32_t> out;
    uint32_t chain[64];
    depth = std::min(depth, 64);
    bool any = false;
    const std::vector<uint32_t> in = sets_[s];
    for (uint32_t top : in) {
        if (is_marker(top)) {
            out.push_back(top);
            continue;
        }
        int n = 0;
        for (uint32_t f = top; n < depth && f != kNoParent; f = frames_[f].parent) chain[n++] = f;
        const uint32_t below = frames_[chain[n - 1]].parent;
        if (n < depth || below == kNoParent) { // the whole stack is within reach: keep it
            out.push_back(top);
            continue;
        }
        auto it = std::find(cut.begin(), cut.end(), below);
        if (it == cut.end()) {
            if (cut.size() == kMaxHoles) return cut.clear(), s; // too many contexts: do not cut
            cut.push_back(below);
            it = cut.end() - 1;
        }
        uint32_t p = static_cast<uint32_t>(it - cut.begin()) + 1; // the hole's marker id
        for (int i = n - 1; i >= 0; --i) p = frame(frames_[chain[i]].pos, p, frames_[chain[i]].partial);
        out.push_back(p);
        any = true;
    }
    if (!any) return s;
    return intern(out);
}

StateId Machine::continuation(uint32_t parent_frame) {
    std::vector<uint32_t> out;
    expand(frames_[parent_frame].pos, frames_[parent_frame].parent, out);
    return intern(out);
}

StateId Machine::unite(StateId a, StateId b) {
    if (a == kDead || a == b) return b;
    if (b == kDead) return a;
    std::vector<uint32_t> f = sets_[a];
    f.insert(f.end(), sets_[b].begin(), sets_[b].end());
    return intern(f);
}

bool matches(const std::shared_ptr<const Grammar> &g, std::string_view text, bool full) {
    Machine m(g, std::vector<int32_t>(g->token_refs.size(), -1));
    StateId s = m.initial();
    for (char c : text) {
        s = m.step(s, static_cast<uint8_t>(c));
        if (s == kDead) return false;
    }
    return !full || m.accepting(s);
}

} // namespace corvid::grammar
