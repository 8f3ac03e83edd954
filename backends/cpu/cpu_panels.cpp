// Panel weights (cpu_panels.h): the byte groups of each type, packing at load, and rows
// unpacked back for the readers that take rows as stored (prompt packers, get_rows, the
// reference and the multi-column dot kernels).
#include "cpu/cpu_panels.h"

#include "tensor/dtype.h"

#include <cstring>
#include <vector>

namespace corvid::cpu {
namespace {

// One unit (2 or 4 bytes) of a block: bytes [offset, offset + unit), stored XORed with mask.
// A panel block is its type's groups in order, each the unit of the 16 rows one after another.
struct Group {
    uint16_t offset;
    uint8_t unit, mask;
};
struct PanelForm {
    static constexpr int kMaxGroups = 64;
    int n_groups = 0;
    bool overflow = false; // a form with more groups than fit is no form (the type stays as stored)
    Group group[kMaxGroups];
    // The units of bytes [offset, offset + bytes), one group each.
    void run(int offset, int bytes, int unit, uint8_t mask = 0) {
        for (int o = offset; o < offset + bytes; o += unit) {
            if (n_groups == kMaxGroups) overflow = true;
            if (overflow) return;
            group[n_groups++] = Group{static_cast<uint16_t>(o), static_cast<uint8_t>(unit), mask};
        }
    }
};

PanelForm make_form(DType t) {
    PanelForm f;
    switch (t) {
    case DType::Q4_0:
    case DType::IQ4_NL: f.run(0, 2, 2), f.run(2, 16, 4); break;
    case DType::Q8_0: f.run(0, 2, 2), f.run(2, 32, 4, 0x80); break;
    case DType::Q5_0: f.run(0, 2, 2), f.run(2, 4, 4), f.run(6, 16, 4); break; // d | qh | qs
    case DType::Q4_1: f.run(0, 4, 2), f.run(4, 16, 4); break;                  // d, m | qs
    case DType::Q5_1: f.run(0, 4, 2), f.run(4, 4, 4), f.run(8, 16, 4); break; // d, m | qh | qs
    case DType::Q2_K: f.run(80, 4, 2), f.run(0, 16, 4), f.run(16, 64, 4); break; // d, dmin | scales | qs
    case DType::Q3_K: f.run(108, 2, 2), f.run(96, 12, 4), f.run(0, 32, 4), f.run(32, 64, 4); break; // d | scales | hmask | qs
    case DType::Q4_K: f.run(0, 4, 2), f.run(4, 12, 4), f.run(16, 128, 4); break;
    case DType::Q5_K: f.run(0, 4, 2), f.run(4, 12, 4), f.run(16, 32, 4), f.run(48, 128, 4); break;
    // Scales, d; then per half h and dword l: ql, ql + 32, qh, the order the kernel reads them
    // (as three planes, one stream became three, and one core read the panels from memory
    // at 7-10 GB/s instead of 23).
    case DType::Q6_K:
        f.run(192, 16, 4), f.run(208, 2, 2);
        for (int h = 0; h < 2; ++h)
            for (int l = 0; l < 32; l += 4) f.run(64 * h + l, 4, 4), f.run(64 * h + 32 + l, 4, 4), f.run(128 + 32 * h + l, 4, 4);
        break;
    default: break;
    }
    if (f.overflow) f.n_groups = 0;
    return f;
}

// Every type's form, made once.
const PanelForm &form_of(DType t) {
    constexpr int kSlots = 64;
    static const std::vector<PanelForm> forms = [] {
        std::vector<PanelForm> v(kSlots);
        for (int id = 0; id < kSlots; ++id) v[static_cast<size_t>(id)] = make_form(static_cast<DType>(id));
        return v;
    }();
    static const PanelForm none{};
    const auto id = static_cast<size_t>(t);
    return id < forms.size() ? forms[id] : none;
}

// Unit j of rows[r] + off (16 rows) to and from 16 consecutive units at p, XORed with
// mask; rows whose pointer is null are skipped. U: the unit's bytes (2 or 4).
template <typename U> void move_units(uint8_t *const *rows, size_t off, uint8_t *p, uint8_t mask, bool to_panel) {
    const U m = static_cast<U>(0x01010101u * mask);
    for (int r = 0; r < kPanelRows; ++r, p += sizeof(U)) {
        if (!rows[r]) continue;
        U v;
        if (to_panel) {
            std::memcpy(&v, rows[r] + off, sizeof(U));
            v ^= m;
            std::memcpy(p, &v, sizeof(U));
        } else {
            std::memcpy(&v, p, sizeof(U));
            v ^= m;
            std::memcpy(rows[r] + off, &v, sizeof(U));
        }
    }
}

// One block of a panel's 16 rows between the stored form (rows[r] + off: row r's block) and
// the panel block `panel`: to_panel packs, else unpacks (the masks undo themselves); rows
// whose pointer is null are skipped.
void move_block(const PanelForm &form, uint8_t *const *rows, size_t off, uint8_t *panel, bool to_panel) {
    uint8_t *p = panel;
    for (int i = 0; i < form.n_groups; ++i) {
        const Group &g = form.group[i];
        if (g.unit == 4) move_units<uint32_t>(rows, off + g.offset, p, g.mask, to_panel);
        else move_units<uint16_t>(rows, off + g.offset, p, g.mask, to_panel);
        p += kPanelRows * g.unit;
    }
}

} // namespace

bool panel_type(DType t) { return form_of(t).n_groups > 0; }

void pack_panels(DType t, int64_t K, int64_t N, const void *src, void *dst) {
    const size_t row = *dtype_row_bytes(t, static_cast<uint64_t>(K));
    const auto *in = static_cast<const uint8_t *>(src);
    auto *out = static_cast<uint8_t *>(dst);
    const PanelForm &form = form_of(t);
    if (form.n_groups == 0 || N < kPanelRows) {
        if (out != in) std::memmove(out, in, row * static_cast<size_t>(N));
        return;
    }
    const size_t bb = traits(t).block_bytes, nb = row / bb, panel = row * kPanelRows;
    std::vector<uint8_t> copy(panel); // the panel's rows as stored (the input may be the output)
    uint8_t *rows[kPanelRows];
    for (int r = 0; r < kPanelRows; ++r) rows[r] = copy.data() + r * row;
    const int64_t full = N / kPanelRows * kPanelRows;
    for (int64_t p = 0; p < full; p += kPanelRows) {
        std::memcpy(copy.data(), in + static_cast<size_t>(p) * row, panel);
        uint8_t *o = out + static_cast<size_t>(p) * row;
        for (size_t b = 0; b < nb; ++b) move_block(form, rows, b * bb, o + kPanelRows * bb * b, true);
    }
    if (out != in) std::memmove(out + full * row, in + full * row, row * static_cast<size_t>(N - full));
}

const uint8_t *weight_row(const Tensor &w, int64_t n, int64_t b2, int64_t b3, uint8_t *scratch) {
    const PanelForm &form = form_of(w.type);
    if (w.layout != kLayoutCpuPanels || n >= w.ne[1] / kPanelRows * kPanelRows || form.n_groups == 0)
        return w.row(n, b2, b3);
    // Only row n % 16 of each panel block is written back (the other rows' pointers are null).
    uint8_t *rows[kPanelRows] = {};
    rows[n % kPanelRows] = scratch;
    const size_t bb = traits(w.type).block_bytes, nb = w.row_bytes() / bb;
    uint8_t *panel = w.row(n - n % kPanelRows, b2, b3);
    for (size_t b = 0; b < nb; ++b) move_block(form, rows, b * bb, panel + kPanelRows * bb * b, false);
    return scratch;
}

void unpack_panel(const Tensor &w, int64_t n0, uint8_t *out) {
    const PanelForm &form = form_of(w.type);
    const size_t row = w.row_bytes(), bb = traits(w.type).block_bytes, nb = row / bb;
    uint8_t *rows[kPanelRows];
    for (int r = 0; r < kPanelRows; ++r) rows[r] = out + r * row;
    const uint8_t *panel = w.row(n0);
    for (size_t b = 0; b < nb; ++b)
        move_block(form, rows, b * bb, const_cast<uint8_t *>(panel) + kPanelRows * bb * b, false);
}

} // namespace corvid::cpu
