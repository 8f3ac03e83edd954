#include "graph/tensor.h"

#include "util/error.h"

namespace corvid {

const char *op_name(Op op) {
    static const char *names[] = {"none",   "get_rows", "mul_mat",  "add",       "mul",  "scale",  "rms_norm",
                                  "norm",   "rope",     "soft_max", "attention", "silu", "gelu",   "swiglu",
                                  "geglu",  "cpy",      "view",     "set_rows", "transfer"};
    static_assert(sizeof(names) / sizeof(names[0]) == static_cast<size_t>(Op::count_), "op names");
    return names[static_cast<size_t>(op)];
}

size_t Tensor::row_bytes() const {
    const auto &tr = traits(type);
    return static_cast<size_t>(ne[0] / tr.block_size) * tr.block_bytes;
}

size_t Tensor::n_bytes() const {
    if (n_elements() == 0) return 0;
    size_t bytes = row_bytes();
    for (int d = 1; d < kMaxDims; ++d) bytes += static_cast<size_t>(ne[d] - 1) * nb[d];
    return bytes;
}

bool bytes_overlap(const Tensor &a, const Tensor &b) {
    const auto *pa = static_cast<const uint8_t *>(a.data), *pb = static_cast<const uint8_t *>(b.data);
    if (!pa || !pb) return false;
    const size_t na = a.n_bytes(), nb = b.n_bytes();
    return na > 0 && nb > 0 && pa < pb + nb && pb < pa + na;
}

bool Tensor::is_contiguous() const {
    const auto &tr = traits(type);
    if (nb[0] != tr.block_bytes) return false;
    size_t expect = row_bytes();
    for (int d = 1; d < kMaxDims; ++d) {
        if (ne[d] != 1 && nb[d] != expect) return false;
        expect *= static_cast<size_t>(ne[d]);
    }
    return true;
}

void set_contiguous_strides(Tensor &t) {
    const auto &tr = traits(t.type);
    if (t.ne[0] % tr.block_size != 0)
        fail(Status::internal, "tensor '%s': %lld elements per row is not a whole number of %s blocks",
             t.name.c_str(), static_cast<long long>(t.ne[0]), tr.name);
    t.nb[0] = tr.block_bytes;
    t.nb[1] = t.row_bytes();
    for (int d = 2; d < kMaxDims; ++d) t.nb[d] = t.nb[d - 1] * static_cast<size_t>(t.ne[d - 1]);
}

std::string describe(const Tensor &t) {
    return strfmt("%s [%lld, %lld, %lld, %lld] '%s'", dtype_name(t.type), static_cast<long long>(t.ne[0]),
                  static_cast<long long>(t.ne[1]), static_cast<long long>(t.ne[2]), static_cast<long long>(t.ne[3]),
                  t.name.c_str());
}

} // namespace corvid
