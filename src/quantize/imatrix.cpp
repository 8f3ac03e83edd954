// imatrix.h: reading llama.cpp's importance-matrix files (GGUF and legacy .dat).
#include "quantize/imatrix.h"

#include "gguf/gguf_file.h"
#include "util/error.h"
#include "util/file_source.h"
#include "util/log.h"

#include <cinttypes>
#include <cmath>
#include <cstring>

namespace corvid::quant {
namespace {

constexpr uint32_t kMaxNameLength = 4096; // GGUF tensor names are at most 63 bytes; be generous

bool ends_with(const std::string &s, const std::string &suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void check_values(const std::string &path, const std::string &name, const std::vector<float> &v) {
    for (size_t i = 0; i < v.size(); ++i)
        if (!std::isfinite(v[i]) || v[i] < 0)
            fail(Status::format, "%s: importance of '%s' element %zu is %g; it must be finite and >= 0", path.c_str(),
                 name.c_str(), i, static_cast<double>(v[i]));
}

// ---- GGUF ---------------------------------------------------------------------

int64_t required_int(const gguf::GgufFile &f, const char *key) {
    const gguf::Value *v = f.find(key);
    if (!v)
        fail(Status::format, "%s: not an importance matrix: key '%s' is missing (llama-imatrix writes "
             "imatrix.datasets, imatrix.chunk_count and imatrix.chunk_size)", f.path().c_str(), key);
    const auto x = v->as_int();
    if (!x || *x < 0) fail(Status::format, "%s: key '%s' should hold a non-negative integer", f.path().c_str(), key);
    return *x;
}

const gguf::TensorInfo &checked_f32(const gguf::GgufFile &f, const std::string &name) {
    const gguf::TensorInfo &t = f.tensors()[static_cast<size_t>(f.tensor_index(name))];
    if (t.type != DType::F32)
        fail(Status::format, "%s: tensor '%s' is %s; importance sums and counts must be F32", f.path().c_str(),
             name.c_str(), dtype_name(t.type));
    return t;
}

std::vector<float> read_f32(const gguf::GgufFile &f, const gguf::TensorInfo &t) {
    std::vector<float> v(static_cast<size_t>(t.n_elements()));
    f.read_tensor_data(t, v.data());
    return v;
}

Imatrix load_gguf(const std::string &path) {
    auto f = gguf::GgufFile::open(path, /*use_mmap=*/false);
    Imatrix m;
    m.path = path;
    if (const gguf::Value *t = f->find("general.type"); t && t->as_string() && *t->as_string() != "imatrix")
        fail(Status::format, "%s: general.type is '%s', not 'imatrix' (is this a model rather than an importance "
             "matrix?)", path.c_str(), t->as_string()->c_str());
    const gguf::Value *ds = f->find("imatrix.datasets");
    if (!ds)
        fail(Status::format, "%s: not an importance matrix: key 'imatrix.datasets' is missing", path.c_str());
    if (ds->type() != gguf::ValueType::ARRAY || ds->elem_type() != gguf::ValueType::STRING)
        fail(Status::format, "%s: key 'imatrix.datasets' should be an array of strings", path.c_str());
    m.datasets = ds->strings();
    m.chunk_count = required_int(*f, "imatrix.chunk_count");
    m.chunk_size = required_int(*f, "imatrix.chunk_size");
    if (f->tensors().empty()) fail(Status::format, "%s: the importance matrix holds no tensors", path.c_str());

    static const std::string kSum2 = ".in_sum2", kCounts = ".counts", kSum = ".in_sum";
    for (const gguf::TensorInfo &t : f->tensors()) {
        if (ends_with(t.name, kCounts) || ends_with(t.name, kSum)) {
            const std::string base =
                t.name.substr(0, t.name.size() - (ends_with(t.name, kCounts) ? kCounts : kSum).size());
            if (f->tensor_index(base + kSum2) < 0)
                fail(Status::format, "%s: tensor '%s' has no matching '%s%s'", path.c_str(), t.name.c_str(),
                     base.c_str(), kSum2.c_str());
            continue;
        }
        if (!ends_with(t.name, kSum2)) {
            log(LogLevel::warn, "imatrix: %s: ignoring tensor '%s' (not <weight>.in_sum2 / .counts)", path.c_str(),
                t.name.c_str());
            continue;
        }
        const std::string name = t.name.substr(0, t.name.size() - kSum2.size());
        if (name.empty()) fail(Status::format, "%s: tensor '%s' names no weight", path.c_str(), t.name.c_str());
        if (f->tensor_index(name + kCounts) < 0)
            fail(Status::format, "%s: '%s' has sums but no '%s%s' tensor", path.c_str(), name.c_str(), name.c_str(),
                 kCounts.c_str());
        const gguf::TensorInfo &sums_t = checked_f32(*f, t.name);
        const gguf::TensorInfo &counts_t = checked_f32(*f, name + kCounts);
        const int64_t n_sums = sums_t.n_elements(), n_mat = counts_t.n_elements();
        if (n_sums < 1 || n_mat < 1 || n_sums % n_mat != 0 || sums_t.ne[1] * sums_t.ne[2] * sums_t.ne[3] != n_mat)
            fail(Status::format, "%s: '%s': %" PRId64 " sums (ne [%" PRId64 ", %" PRId64 "]) do not match %" PRId64
                 " counts (expected ne [row length, matrices] and [1, matrices])", path.c_str(), name.c_str(), n_sums,
                 sums_t.ne[0], sums_t.ne[1], n_mat);
        const int64_t row = n_sums / n_mat;
        std::vector<float> sums = read_f32(*f, sums_t);
        const std::vector<float> counts = read_f32(*f, counts_t);
        for (int64_t j = 0; j < n_mat; ++j) {
            const float c = counts[static_cast<size_t>(j)];
            if (!std::isfinite(c) || c < 0 || c > 9.0e15f)
                fail(Status::format, "%s: '%s': count %" PRId64 " is %g; counts must be finite and >= 0", path.c_str(),
                     name.c_str(), j, static_cast<double>(c));
            // llama-quantize: counts are rounded to integers; a matrix never used gets 1s.
            const long n = std::lround(c);
            float *v = sums.data() + j * row;
            for (int64_t i = 0; i < row; ++i) v[i] = n > 0 ? v[i] / static_cast<float>(n) : 1.0f;
        }
        check_values(path, name, sums);
        m.entries.emplace(name, std::move(sums));
    }
    if (m.entries.empty()) fail(Status::format, "%s: no '<weight>.in_sum2' tensors: not an importance matrix", path.c_str());
    return m;
}

// ---- legacy .dat ---------------------------------------------------------------

class Reader {
public:
    explicit Reader(const FileSource &src) : src_(src) {}
    uint64_t left() const { return src_.size() - at_; }
    int32_t i32(const char *what) {
        int32_t v;
        src_.read_at(at_, &v, 4, what);
        at_ += 4;
        return v;
    }
    void bytes(void *dst, uint64_t n, const char *what) {
        src_.read_at(at_, dst, n, what);
        at_ += n;
    }

private:
    const FileSource &src_;
    uint64_t at_ = 0;
};

Imatrix load_legacy(const std::string &path) {
    FileSource src(path, /*use_mmap=*/false);
    Reader r(src);
    Imatrix m;
    m.path = path;
    m.legacy = true;
    if (src.size() < 4) fail(Status::format, "%s: not an importance matrix: only %" PRIu64 " bytes", path.c_str(), src.size());
    const int32_t n_entries = r.i32("entry count");
    // Each entry takes at least 4 + 1 + 4 + 4 + 4 bytes.
    if (n_entries < 1 || static_cast<uint64_t>(n_entries) > r.left() / 17)
        fail(Status::format, "%s: not an importance matrix (GGUF or legacy .dat): %" PRId32 " entries in a file of %" PRIu64
             " bytes", path.c_str(), n_entries, src.size());
    for (int32_t e = 0; e < n_entries; ++e) {
        const int32_t len = r.i32("name length");
        if (len < 1 || static_cast<uint32_t>(len) > kMaxNameLength || static_cast<uint64_t>(len) > r.left())
            fail(Status::format, "%s: entry %" PRId32 ": bad name length %" PRId32 " (file truncated or not an "
                 "importance matrix)", path.c_str(), e, len);
        std::string name(static_cast<size_t>(len), '\0');
        r.bytes(name.data(), static_cast<uint64_t>(len), "entry name");
        if (name.find('\0') != std::string::npos)
            fail(Status::format, "%s: entry %" PRId32 ": the name holds a NUL byte", path.c_str(), e);
        const int32_t ncall = r.i32("call count");
        const int32_t nval = r.i32("value count");
        if (nval < 1 || static_cast<uint64_t>(nval) * 4 > r.left())
            fail(Status::format, "%s: entry '%s': %" PRId32 " values, but %" PRIu64 " bytes are left", path.c_str(),
                 name.c_str(), nval, r.left());
        std::vector<float> v(static_cast<size_t>(nval));
        r.bytes(v.data(), static_cast<uint64_t>(nval) * 4, "values");
        // llama-quantize divides by the call count (values are sums over calls).
        if (ncall > 0)
            for (float &x : v) x /= static_cast<float>(ncall);
        check_values(path, name, v);
        if (!m.entries.emplace(name, std::move(v)).second)
            fail(Status::format, "%s: entry '%s' appears twice", path.c_str(), name.c_str());
    }
    // Optional trailer: chunk count, then the dataset name.
    if (r.left() > 0) {
        if (r.left() < 8)
            fail(Status::format, "%s: %" PRIu64 " stray bytes after the last entry", path.c_str(), r.left());
        const int32_t chunks = r.i32("chunk count");
        const int32_t len = r.i32("dataset name length");
        if (chunks < 0 || len < 0 || static_cast<uint64_t>(len) != r.left())
            fail(Status::format, "%s: malformed trailer after the entries (chunk count %" PRId32 ", dataset name of %"
                 PRId32 " bytes, %" PRIu64 " bytes left)", path.c_str(), chunks, len, r.left());
        m.chunk_count = chunks;
        if (len > 0) {
            std::string ds(static_cast<size_t>(len), '\0');
            r.bytes(ds.data(), static_cast<uint64_t>(len), "dataset name");
            ds.resize(std::strlen(ds.c_str()));
            m.datasets.push_back(ds);
        }
    }
    return m;
}

} // namespace

const std::vector<float> *Imatrix::find(const std::string &name) const {
    auto it = entries.find(name);
    return it == entries.end() ? nullptr : &it->second;
}

Imatrix load_imatrix(const std::string &path) {
    char magic[4] = {0, 0, 0, 0};
    {
        FileSource src(path, /*use_mmap=*/false);
        if (src.size() >= 4) src.read_at(0, magic, 4, "magic");
    }
    if (std::memcmp(magic, "GGUF", 4) == 0) return load_gguf(path);
    return load_legacy(path);
}

} // namespace corvid::quant
