#include "arch/weights.h"

#include "util/error.h"

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace corvid {

namespace {
// Drops the whole pages of [p, p + n) of a read-only file mapping from this process (they
// are read from the file again if touched): the weights arrange() copied are not read again,
// and on a machine short of memory they should not count twice.
void release_mapped_pages(const void *p, size_t n) {
#if defined(__linux__)
    const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
    const auto end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
    if (end > begin) madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED); // advice: ignore failure
#else
    (void)p, (void)n;
#endif
}
} // namespace

WeightStore::WeightStore(const gguf::GgufFile &file, const std::function<void(float)> &progress) : file_(file) {
    uint64_t total = 0, done = 0, unmapped = 0;
    for (const auto &ti : file.tensors()) {
        total += ti.n_bytes;
        if (!file.tensor_data(ti)) unmapped += (ti.n_bytes + 63) / 64 * 64;
    }
    // An unmapped file's tensors are read into one buffer with huge pages where allowed
    // (decode streams every weight once per token; 4 KiB pages cost a TLB miss per page).
    if (unmapped) owned_ = HostMemory(unmapped);
    uint64_t next = 0;
    for (const auto &ti : file.tensors()) {
        Tensor &t = tensors_.emplace_back();
        t.type = ti.type;
        for (int d = 0; d < kMaxDims; ++d) t.ne[d] = ti.ne[d];
        t.name = ti.name;
        t.flags = kFlagWeight;
        set_contiguous_strides(t);
        if (const uint8_t *p = file.tensor_data(ti)) {
            t.data = const_cast<uint8_t *>(p); // read-only mapping: kernels never write weights
        } else {
            t.data = owned_.data() + next;
            next += (ti.n_bytes + 63) / 64 * 64;
            file.read_tensor_data(ti, t.data);
        }
        n_bytes_ += ti.n_bytes;
        by_name_[ti.name] = &t;
        done += ti.n_bytes;
        if (progress && total) progress(static_cast<float>(done) / static_cast<float>(total));
    }
}

void WeightStore::arrange(const std::function<int32_t(const Tensor &)> &layout_of,
                          const std::function<void(const Tensor &, const void *, void *)> &pack,
                          const std::function<void(float)> &progress) {
    std::vector<std::pair<Tensor *, int32_t>> chosen;
    uint64_t total = 0, mapped = 0;
    for (Tensor &t : tensors_)
        if (const int32_t layout = layout_of(t)) {
            chosen.emplace_back(&t, layout);
            total += t.n_bytes();
            if (!owns(t)) mapped += (t.n_bytes() + 63) / 64 * 64;
        }
    if (chosen.empty()) return;
    // Ordinary pages: where the kernel compacts memory on the first touch of huge pages
    // (transparent_hugepage/defrag = madvise), 600 MiB took 1.2-1.7 s against 0.25 s on the
    // project's VM, and the mapped file these weights came from had 4 KiB pages too.
    // (--no-mmap reads the file into huge pages, and the weights are rearranged there in place.)
    if (mapped) arranged_ = HostMemory(mapped, false);
    struct Job {
        Tensor *t;
        int32_t layout;
        uint8_t *dst;
    };
    std::vector<Job> jobs;
    uint64_t next = 0;
    for (auto &[t, layout] : chosen) {
        uint8_t *dst = static_cast<uint8_t *>(t->data);
        if (!owns(*t)) {
            dst = arranged_.data() + next;
            next += (t->n_bytes() + 63) / 64 * 64;
        }
        jobs.push_back(Job{t, layout, dst});
    }
    // The tensors are taken one by one by every core (the first touch of the new pages and
    // the file's costs as much as the packing); this thread reports progress, and a progress
    // callback that throws (a cancelled load) stops the others before the error goes on.
    // After an error the store is half rearranged: Model::load then discards it.
    std::atomic<size_t> taken{0};
    std::atomic<uint64_t> done{0};
    std::atomic<bool> stop{false};
    std::exception_ptr error; // the first helper's, if any
    std::mutex error_mutex;
    auto pack_job = [&](size_t i) {
        const Job &j = jobs[i];
        uint8_t *src = static_cast<uint8_t *>(j.t->data);
        pack(*j.t, src, j.dst);
        if (j.dst != src) release_mapped_pages(src, j.t->n_bytes());
        done.fetch_add(j.t->n_bytes());
    };
    auto helper = [&] {
        try {
            for (size_t i; !stop.load() && (i = taken.fetch_add(1)) < jobs.size();) pack_job(i);
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            stop = true;
        }
    };
    std::vector<std::thread> helpers;
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 1; i < std::min<size_t>(cores, jobs.size()); ++i) {
        try {
            helpers.emplace_back(helper);
        } catch (const std::system_error &) { // no more threads: the ones there do the rest
            break;
        }
    }
    auto join = [&] {
        for (std::thread &h : helpers) h.join();
    };
    try {
        for (size_t i; !stop.load() && (i = taken.fetch_add(1)) < jobs.size();) {
            pack_job(i);
            if (progress) progress(static_cast<float>(done.load()) / static_cast<float>(total));
        }
    } catch (...) {
        stop = true;
        join();
        throw;
    }
    join();
    if (error) std::rethrow_exception(error);
    for (const Job &j : jobs) {
        j.t->data = j.dst;
        j.t->layout = j.layout;
    }
}

bool WeightStore::owns(const Tensor &t) const {
    const auto *p = static_cast<const uint8_t *>(t.data);
    return owned_.data() && p >= owned_.data() && p < owned_.data() + owned_.size();
}

Tensor *WeightStore::peek(const std::string &name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
}

Tensor *WeightStore::find(const std::string &name, std::initializer_list<int64_t> dims) {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return nullptr;
    Tensor *t = it->second;
    int64_t want[kMaxDims] = {1, 1, 1, 1};
    int d = 0;
    for (int64_t n : dims) want[d++] = n;
    for (d = 0; d < kMaxDims; ++d)
        if (t->ne[d] != want[d])
            fail(Status::format, "%s: tensor '%s' has shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
                 "], expected [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "]", file_.path().c_str(),
                 name.c_str(), t->ne[0], t->ne[1], t->ne[2], t->ne[3], want[0], want[1], want[2], want[3]);
    if (!traits(t->type).has_reference)
        fail(Status::unsupported, "%s: tensor '%s' has type %s, which Corvid cannot compute with yet",
             file_.path().c_str(), name.c_str(), dtype_name(t->type));
    return t;
}

Tensor *WeightStore::get(const std::string &name, std::initializer_list<int64_t> dims) {
    Tensor *t = find(name, dims);
    if (!t) fail(Status::format, "%s: the model has no tensor '%s'", file_.path().c_str(), name.c_str());
    return t;
}

const gguf::Value *MetaReader::value(const std::string &suffix, bool required) const {
    const std::string key = arch_ + "." + suffix;
    const gguf::Value *v = file_.find(key);
    if (!v && required) fail(Status::format, "%s: required metadata key '%s' is missing", file_.path().c_str(), key.c_str());
    return v;
}

int64_t MetaReader::get_int(const std::string &suffix) const {
    const gguf::Value *v = value(suffix, true);
    if (!v->as_int())
        fail(Status::format, "%s: key '%s.%s' must be an integer, found %s", file_.path().c_str(), arch_.c_str(),
             suffix.c_str(), gguf::value_type_name(v->type()));
    return *v->as_int();
}

int64_t MetaReader::get_int(const std::string &suffix, int64_t fallback) const {
    return has(suffix) ? get_int(suffix) : fallback;
}

float MetaReader::get_float(const std::string &suffix) const {
    const gguf::Value *v = value(suffix, true);
    if (auto f = v->as_float()) return static_cast<float>(*f);
    if (auto i = v->as_int()) return static_cast<float>(*i);
    fail(Status::format, "%s: key '%s.%s' must be a number, found %s", file_.path().c_str(), arch_.c_str(),
         suffix.c_str(), gguf::value_type_name(v->type()));
}

float MetaReader::get_float(const std::string &suffix, float fallback) const {
    return has(suffix) ? get_float(suffix) : fallback;
}

std::string MetaReader::get_string(const std::string &suffix, const std::string &fallback) const {
    const gguf::Value *v = value(suffix, false);
    return v && v->as_string() ? *v->as_string() : fallback;
}

std::vector<int64_t> MetaReader::get_per_layer(const std::string &suffix, size_t n_layer) const {
    const gguf::Value *v = value(suffix, true);
    std::vector<int64_t> out(n_layer);
    if (v->type() == gguf::ValueType::ARRAY) {
        if (v->array_size() != n_layer)
            fail(Status::format, "%s: key '%s.%s' has %" PRIu64 " entries for %zu layers", file_.path().c_str(),
                 arch_.c_str(), suffix.c_str(), v->array_size(), n_layer);
        for (size_t i = 0; i < n_layer; ++i) {
            const auto x = v->int_at(i);
            if (!x) fail(Status::format, "%s: key '%s.%s' must hold integers", file_.path().c_str(), arch_.c_str(), suffix.c_str());
            out[i] = *x;
        }
        return out;
    }
    const int64_t x = get_int(suffix);
    for (auto &o : out) o = x;
    return out;
}

} // namespace corvid
