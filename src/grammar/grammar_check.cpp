// Semantic checks that make the matcher's expansion loop finite and every state useful:
// no rule can reach itself without consuming input, and every rule can finish.
#include "grammar/grammar.h"

#include "util/error.h"

#include <string>

namespace corvid::grammar {
namespace {

// Auxiliary rules (groups, repetitions) are named "<rule>/<n>"; messages name the user's rule.
std::string user_name(const Grammar &g, uint32_t r) {
    const std::string &n = g.rule_names[r];
    return n.substr(0, n.find('/'));
}

} // namespace

void check_grammar(const Grammar &g) {
    const size_t n = g.rule_alts.size();
    for (const Element &e : g.code)
        if (e.op == Op::rule && e.arg >= n) fail(Status::internal, "grammar: reference to rule %u of %zu", e.arg, n);

    // Nullable (derives the empty string) and productive (derives some finite string), by fixpoint.
    std::vector<bool> nullable(n, false), productive(n, false);
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t r = 0; r < n; ++r)
            for (uint32_t a : g.rule_alts[r]) {
                bool all_null = true, all_prod = true;
                for (uint32_t i = a; g.code[i].op != Op::end; ++i) {
                    const Element &e = g.code[i];
                    const bool is_rule = e.op == Op::rule;
                    all_null = all_null && is_rule && nullable[e.arg];
                    const bool prod = is_rule ? productive[e.arg] : e.op != Op::chars || !g.classes[e.arg].ranges.empty();
                    all_prod = all_prod && prod;
                }
                if (all_null && !nullable[r]) nullable[r] = changed = true;
                if (all_prod && !productive[r]) productive[r] = changed = true;
            }
    }
    for (size_t r = 0; r < n; ++r)
        if (!productive[r])
            fail(Status::invalid_argument, "grammar: rule '%s' can never finish (every alternative needs itself or another such rule again)",
                 user_name(g, static_cast<uint32_t>(r)).c_str());

    // Left recursion: an edge r -> s when s can be entered before anything is consumed.
    std::vector<std::vector<uint32_t>> edges(n);
    for (size_t r = 0; r < n; ++r)
        for (uint32_t a : g.rule_alts[r])
            for (uint32_t i = a; g.code[i].op != Op::end; ++i) {
                const Element &e = g.code[i];
                if (e.op != Op::rule) break;
                edges[r].push_back(e.arg);
                if (!nullable[e.arg]) break;
            }
    // Iterative DFS with colours (no recursion: grammars may be deep).
    std::vector<uint8_t> colour(n, 0); // 0 new, 1 on the path, 2 done
    std::vector<std::pair<uint32_t, size_t>> path;
    for (size_t s = 0; s < n; ++s) {
        if (colour[s]) continue;
        path.push_back({static_cast<uint32_t>(s), 0});
        colour[s] = 1;
        while (!path.empty()) {
            auto &[r, k] = path.back();
            if (k == edges[r].size()) {
                colour[r] = 2;
                path.pop_back();
                continue;
            }
            const uint32_t t = edges[r][k++];
            if (colour[t] == 1) {
                std::string cycle;
                size_t from = 0;
                while (path[from].first != t) ++from;
                for (size_t i = from; i < path.size(); ++i) cycle += "'" + user_name(g, path[i].first) + "' -> ";
                cycle += "'" + user_name(g, t) + "'";
                fail(Status::invalid_argument, "grammar: left recursion: %s can come back to itself without consuming input (%s)",
                     user_name(g, t).c_str(), cycle.c_str());
            }
            if (colour[t] == 0) {
                colour[t] = 1;
                path.push_back({t, 0});
            }
        }
    }
}

} // namespace corvid::grammar
