#include "grammar/class_run.h"

#include "grammar/token_matcher.h"
#include "grammar/utf8_partial.h"

#include <algorithm>

namespace corvid::grammar {
namespace {

std::string encode(uint32_t cp) {
    std::string s;
    if (cp < 0x80) {
        s += static_cast<char>(cp);
    } else if (cp < 0x800) {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        s += static_cast<char>(0xE0 | (cp >> 12));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        s += static_cast<char>(0xF0 | (cp >> 18));
        s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
}

// Counting sort of (key, value) pairs into values + offsets by key.
template <class T>
void bucket(const std::vector<std::pair<uint32_t, T>> &in, uint32_t n_keys, std::vector<T> &out, std::vector<uint32_t> &off) {
    off.assign(n_keys + 1, 0);
    for (const auto &kv : in) ++off[kv.first + 1];
    for (uint32_t k = 0; k < n_keys; ++k) off[k + 1] += off[k];
    out.resize(in.size());
    std::vector<uint32_t> at(off.begin(), off.end() - 1);
    for (const auto &kv : in) out[at[kv.first]++] = kv.second;
}

} // namespace

uint64_t class_size(const CharClass &c) {
    uint64_t n = 0;
    for (const auto &[lo, hi] : c.ranges) n += uint64_t(hi) - lo + 1;
    return n;
}

size_t run_bytes(const ClassRun &r) {
    return sizeof(r) + r.toks.size() * 4 + r.need_off.size() * 4 + r.all.size() * 8 + r.exits.size() * sizeof(ClassRun::Exit) +
           r.exit_off.size() * 4 + r.bounds.size() * 4 + r.bound_off.size() * 4;
}

ClassRun build_class_run(const VocabIndex &v, const CharClass &c, uint32_t root) {
    ClassRun run;
    if (!c.ranges.empty()) run.member = encode(c.ranges.front().first);
    // Where the path to a node stands against the class; one per trie depth.
    struct At {
        uint8_t len, rem, np; // len 0: between characters
        uint32_t count, val;
        uint8_t pb[3];
    };
    std::vector<At> at(v.max_depth + 1);
    at[v.depth[root]] = At{0, 0, 0, 0, 0, {0, 0, 0}};
    std::vector<std::pair<uint32_t, int32_t>> toks;
    std::vector<std::pair<uint32_t, ClassRun::Exit>> exits;
    std::vector<std::pair<uint32_t, uint32_t>> bounds;
    toks.reserve(v.toks.size());
    bool ascii[128];
    for (int b = 0; b < 128; ++b) ascii[b] = c.contains(static_cast<uint32_t>(b));
    uint32_t max_count = 0;
    const uint32_t end = v.subtree_end(root);
    // Only the run is visited: at an exit the walk jumps over the exit's subtree.
    for (uint32_t i = root + 1; i < end;) {
        const At &p = at[v.depth[i] - 1];
        At &a = at[v.depth[i]];
        const uint8_t b = v.byte[i];
        a = p;
        bool in = false;
        if (p.len == 0) {
            if (b < 0x80) {
                in = ascii[b];
                a.count = p.count + 1;
            } else if (const uint32_t len = utf8::lead_len(b)) {
                a.val = b & (0x7F >> len);
                in = utf8::feasible(c, len, len - 1, a.val);
                a.len = static_cast<uint8_t>(len), a.rem = static_cast<uint8_t>(len - 1), a.np = 1, a.pb[0] = b;
            }
        } else if (utf8::is_cont(b)) {
            a.val = (p.val << 6) | (b & 0x3F);
            a.rem = static_cast<uint8_t>(p.rem - 1);
            if (a.rem == 0) {
                in = utf8::member(c, p.len, a.val);
                a.len = 0, a.np = 0, a.count = p.count + 1;
            } else {
                in = utf8::feasible(c, p.len, a.rem, a.val);
                a.pb[a.np++] = b;
            }
        }
        if (!in) {
            ClassRun::Exit e{i, p.count, p.np, {p.pb[0], p.pb[1], p.pb[2]}};
            exits.push_back({p.count, e});
            i = v.skip[i];
            continue;
        }
        max_count = std::max(max_count, a.count);
        const uint32_t need = a.count + (a.len ? 1 : 0);
        for (uint32_t k = v.tok_off[i]; k < v.tok_off[i + 1]; ++k) toks.push_back({need, v.toks[k]});
        if (a.len == 0 && v.skip[i] > i + 1) bounds.push_back({a.count, i});
        ++i;
    }
    run.max_need = max_count + 1;
    bucket(toks, run.max_need + 1, run.toks, run.need_off);
    bucket(exits, max_count + 1, run.exits, run.exit_off);
    bucket(bounds, max_count + 1, run.bounds, run.bound_off);
    const size_t words = (static_cast<size_t>(v.n_vocab) + 63) / 64;
    if (run.toks.size() > words) {
        run.all.assign(words, 0);
        for (int32_t t : run.toks) run.all[static_cast<size_t>(t) >> 6] |= uint64_t(1) << (t & 63);
    }
    return run;
}

} // namespace corvid::grammar
