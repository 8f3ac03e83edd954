// Where the vocabulary trie stays inside one character class: the shortcut that makes a
// mask inside a JSON string (or any long run of one class) cost far less than a trie walk.
//
// Most of a 262k vocabulary is text that a class like [^"\\\x00-\x1F] accepts character by
// character. When a grammar state reads every character of such a class C the same way
// (Machine::uniform_class), the state after n characters of C does not depend on which
// characters they were; so a token made only of C characters (its last one possibly cut
// short) is allowed exactly when the chain of states S_0 -C-> S_1 -C-> ... lasts that many
// characters. A ClassRun lists, per class and vocabulary, those tokens by how many
// characters they need, and the trie nodes where the run ends: the *exits* (the first byte
// that leaves C) and the nodes that end a whole character (where a chain that stops early
// resumes). The matcher then walks only below the exits instead of the whole trie.
//
// A run is rooted at a trie node: the whole trie (node 0), or the subtree below a node where
// a walk reaches a uniform state again (after the space of " word", say), counting
// characters from there. Built once per class content, root and vocabulary (one pass over
// that subtree) and shared: see VocabIndex::class_run. Immutable once built.
#pragma once

#include "grammar/grammar.h"

#include <cstdint>
#include <string>
#include <vector>

namespace corvid::grammar {

struct VocabIndex;

struct ClassRun {
    // Tokens below the root whose bytes past the root are characters of the class, by need =
    // whole characters + 1 if the last one is cut short: toks[need_off[n] .. need_off[n+1]).
    // `all` is their union as a mask (left empty when they are few: set them one by one).
    std::vector<int32_t> toks;
    std::vector<uint32_t> need_off;
    std::vector<uint64_t> all;
    uint32_t max_need = 0;

    // A trie node whose byte leaves the class, under a parent that is the root or lies inside the run
    // after `count` whole characters and `n_partial` bytes of an unfinished one.
    struct Exit {
        uint32_t node, count;
        uint8_t n_partial, partial[3];
    };
    std::vector<Exit> exits;        // by count
    std::vector<uint32_t> exit_off; // exits[exit_off[c] .. exit_off[c+1]) have count c
    // Nodes inside the run that end a whole character (count >= 1) and have children.
    std::vector<uint32_t> bounds;
    std::vector<uint32_t> bound_off;

    std::string member; // the UTF-8 bytes of one character of the class (to step a state by "a C character")
};

// One pass over the subtree below `root` (0: the whole trie). The class must have a member.
ClassRun build_class_run(const VocabIndex &v, const CharClass &c, uint32_t root);

// The approximate bytes a run holds (for the cache's bound).
size_t run_bytes(const ClassRun &r);

// How many code points the class holds (surrogates are never members).
uint64_t class_size(const CharClass &c);

} // namespace corvid::grammar
