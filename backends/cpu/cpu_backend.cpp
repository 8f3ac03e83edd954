// The CPU backend: runs every op with the reference kernels of cpu_kernels.h.
#include "backend.h"
#include "cpu/cpu_kernels.h"
#include "cpu/cpu_parallel.h"
#include "cpu/cpu_profile.h"

#include "util/error.h"

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <thread>

namespace corvid {
namespace {

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(int n_threads) { set_n_threads(n_threads); }

    const char *name() const override { return "CPU"; }
    bool uses_host_memory() const override { return true; }

    bool supports(const Tensor &node) const override {
        switch (node.op) {
        case Op::get_rows: return traits(node.src[0]->type).has_reference;
        case Op::mul_mat: return traits(node.src[0]->type).has_reference;
        case Op::set_rows: return traits(node.type).has_reference;
        case Op::none:
        case Op::transfer:
        case Op::count_: return false;
        default: return true;
        }
    }

    void set_n_threads(int n) override { n_threads_ = n > 0 ? n : physical_core_count(); }

    void compute(const std::vector<Tensor *> &nodes) override {
        cpu::set_parallel_threads(n_threads_);
        for (size_t i = 0; i < nodes.size();) {
            cpu::OpTimer timer;
            if (const size_t next = run_shared_input(nodes, i)) {
                timer.done(&nodes[i], next - i);
                i = next;
            } else {
                run(*nodes[i]);
                if (nodes[i]->op != Op::view) timer.done(&nodes[i], 1);
                ++i;
            }
        }
        cpu::op_profile_graph_done();
    }

private:
    // CORVID_CPU_SHARED_INPUT=0: every product alone (A/B timing).
    static bool shared_input_enabled() {
        static const bool on = [] {
            const char *e = std::getenv("CORVID_CPU_SHARED_INPUT");
            return !(e && e[0] == '0');
        }();
        return on;
    }

    // Products over one input from nodes[i] on (views between them skipped) computed
    // together (cpu::mul_mat_fast_shared_input); returns the index after the last one it
    // computed, or 0 when it computed none.
    static size_t run_shared_input(const std::vector<Tensor *> &nodes, size_t i) {
        if (nodes[i]->op != Op::mul_mat || !shared_input_enabled()) return 0;
        Tensor *products[8];
        size_t at[8], n = 0;
        for (size_t j = i; j < nodes.size() && n < 8; ++j) {
            if (nodes[j]->op == Op::view) continue;
            if (nodes[j]->op != Op::mul_mat || nodes[j]->src[1] != nodes[i]->src[1]) break;
            products[n] = nodes[j];
            at[n++] = j;
        }
        const size_t done = cpu::mul_mat_fast_shared_input(products, n);
        return done ? at[done - 1] + 1 : 0;
    }

    static void run(Tensor &t) {
        switch (t.op) {
        case Op::get_rows: cpu::get_rows(t); break;
        case Op::mul_mat: cpu::mul_mat(t); break;
        case Op::add: cpu::add(t); break;
        case Op::mul: cpu::mul(t); break;
        case Op::scale: cpu::scale(t); break;
        case Op::rms_norm: cpu::rms_norm(t); break;
        case Op::norm: cpu::norm(t); break;
        case Op::rope: cpu::rope(t); break;
        case Op::soft_max: cpu::soft_max(t); break;
        case Op::attention: cpu::attention(t); break;
        case Op::silu:
        case Op::gelu: cpu::unary(t); break;
        case Op::swiglu:
        case Op::geglu: cpu::glu(t); break;
        case Op::cpy: cpu::cpy(t); break;
        case Op::set_rows: cpu::set_rows(t); break;
        case Op::view: break;
        case Op::none:
        case Op::transfer:
        case Op::count_: fail(Status::internal, "cpu: cannot run op %s", op_name(t.op));
        }
    }

    int n_threads_ = 1;
};

} // namespace

std::unique_ptr<Backend> make_cpu_backend(int n_threads) { return std::make_unique<CpuBackend>(n_threads); }

int physical_core_count() {
    // Distinct (package, core) pairs from sysfs; hyper-threads share a pair.
    std::set<std::pair<std::string, std::string>> cores;
    for (unsigned cpu = 0; cpu < 4096; ++cpu) {
        const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
        std::ifstream core(base + "core_id"), pkg(base + "physical_package_id");
        if (!core) break;
        std::string c, p;
        core >> c;
        pkg >> p;
        cores.emplace(p, c);
    }
    if (!cores.empty()) return static_cast<int>(cores.size());
    const unsigned hw = std::thread::hardware_concurrency();
    return hw > 0 ? static_cast<int>(hw) : 1;
}

} // namespace corvid
