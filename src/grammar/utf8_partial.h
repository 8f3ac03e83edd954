// UTF-8 characters read one byte at a time against a character class: what the machine's
// frames and the class runs (class_run.h) both need, so that they agree exactly.
#pragma once

#include "grammar/grammar.h"

#include <algorithm>
#include <cstdint>

namespace corvid::grammar::utf8 {

// The length of the sequence a lead byte starts (2..4), 0 for bytes that never start one
// (continuations, C0/C1 overlong leads, F5..FF).
inline uint32_t lead_len(uint8_t b) { return b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xC2 && b <= 0xDF ? 2 : 0; }
inline bool is_cont(uint8_t b) { return (b & 0xC0) == 0x80; }

// The code points a UTF-8 sequence of this length may encode (shorter forms are overlong).
inline uint32_t min_cp(uint32_t len) { return len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000; }
inline uint32_t max_cp(uint32_t len) { return len == 2 ? 0x7FF : len == 3 ? 0xFFFF : 0x10FFFF; }

// Whether some completion of a partial character (length len, rem continuation bytes still
// missing, the bits read so far in val) lies in the class.
inline bool feasible(const CharClass &c, uint32_t len, uint32_t rem, uint32_t val) {
    const uint32_t shift = 6 * rem;
    uint32_t lo = val << shift, hi = lo | ((1u << shift) - 1);
    lo = std::max(lo, min_cp(len));
    hi = std::min(hi, max_cp(len));
    return lo <= hi && c.intersects(lo, hi);
}

// Whether the finished character (length len, value val) is a member.
inline bool member(const CharClass &c, uint32_t len, uint32_t val) { return val >= min_cp(len) && val <= max_cp(len) && c.contains(val); }

} // namespace corvid::grammar::utf8
