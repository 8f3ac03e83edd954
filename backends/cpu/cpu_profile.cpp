// The op profile of cpu_profile.h.
#include "cpu/cpu_profile.h"
#include "tensor/dtype.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace corvid::cpu {
namespace {

struct Entry {
    int64_t calls = 0, ns = 0;
    double weight_bytes = 0; // products: the bytes of their weights
};

struct Profile {
    std::mutex mu;
    std::map<std::string, Entry> by_key;
    bool first_graph_done = false;
    ~Profile() { print(); }
    void print() {
        std::lock_guard<std::mutex> lock(mu);
        if (by_key.empty()) return;
        std::vector<std::pair<std::string, Entry>> rows(by_key.begin(), by_key.end());
        std::sort(rows.begin(), rows.end(), [](const auto &a, const auto &b) { return a.second.ns > b.second.ns; });
        int64_t total = 0;
        for (const auto &r : rows) total += r.second.ns;
        std::fprintf(stderr, "\ncorvid CPU op profile (CORVID_CPU_PROFILE): %.1f ms in ops\n", total * 1e-6);
        std::fprintf(stderr, "%-44s %9s %10s %6s %9s %8s\n", "op", "calls", "ms", "%", "us/call", "GB/s");
        for (const auto &[key, e] : rows) {
            char rate[32] = "";
            if (e.weight_bytes > 0 && e.ns > 0) std::snprintf(rate, sizeof rate, "%.1f", e.weight_bytes / double(e.ns));
            std::fprintf(stderr, "%-44s %9lld %10.1f %6.1f %9.1f %8s\n", key.c_str(), static_cast<long long>(e.calls),
                         e.ns * 1e-6, 100.0 * double(e.ns) / double(total), e.ns * 1e-3 / double(e.calls), rate);
        }
    }
};

Profile &profile() {
    static Profile p;
    return p;
}

} // namespace

bool op_profile_on() {
    static const bool on = [] {
        const char *e = std::getenv("CORVID_CPU_PROFILE");
        return e && e[0] == '1';
    }();
    return on;
}

void op_profile_graph_done() {
    if (!op_profile_on()) return;
    std::lock_guard<std::mutex> lock(profile().mu);
    if (!profile().first_graph_done) profile().by_key.clear();
    profile().first_graph_done = true;
}

void op_profile_add(Tensor *const *nodes, size_t n, int64_t ns) {
    if (n == 0) return;
    const Tensor &t = *nodes[0];
    std::string key = op_name(t.op);
    double bytes = 0;
    if (t.op == Op::mul_mat) {
        // Weight type, output rows x K, columns; "+" when products over one input ran together.
        const Tensor &w = *t.src[0];
        int64_t rows = 0, products = 0;
        for (size_t i = 0; i < n; ++i) {
            if (nodes[i]->op != Op::mul_mat) continue; // views between products run together
            ++products;
            rows += nodes[i]->src[0]->ne[1];
            bytes += double(nodes[i]->src[0]->n_bytes());
        }
        key += std::string(products > 1 ? "+ " : " ") + dtype_name(w.type) + " " + std::to_string(rows) + "x" +
               std::to_string(w.ne[0]) + (t.ne[1] > 1 ? " (batch)" : "");
    } else if (t.op == Op::attention && t.ne[2] > 1) {
        key += " (batch)"; // a prompt's queries ({head dim, heads, tokens}), apart from decode's one
    }
    std::lock_guard<std::mutex> lock(profile().mu);
    Entry &e = profile().by_key[key];
    e.calls += 1;
    e.ns += ns;
    e.weight_bytes += bytes;
}

} // namespace corvid::cpu
