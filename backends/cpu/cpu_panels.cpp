// Panel weights (cpu_panels.h): the segment table per type, packing at load, and rows
// unpacked back for the readers that take rows as stored (prompt packers, get_rows, the
// reference and the multi-column dot kernels).
#include "cpu/cpu_panels.h"

#include "tensor/dtype.h"

#include <cstring>
#include <vector>

namespace corvid::cpu {
namespace {

struct Segment {
    int bytes, unit;
    uint8_t mask; // stored as byte ^ mask
};
struct PanelForm {
    int n_segments;
    Segment seg[4];
};

PanelForm form_of(DType t) {
    switch (t) {
    case DType::Q4_0: return {2, {{2, 2, 0}, {16, 4, 0}}};
    case DType::Q8_0: return {2, {{2, 2, 0}, {32, 4, 0x80}}};
    case DType::Q4_K: return {3, {{4, 2, 0}, {12, 4, 0}, {128, 4, 0}}};
    default: return {0, {}};
    }
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
    int at = 0; // the segment's offset in the block
    for (int s = 0; s < form.n_segments; ++s) {
        const Segment &g = form.seg[s];
        uint8_t *p = panel + kPanelRows * at;
        for (int j = 0; j < g.bytes / g.unit; ++j, p += kPanelRows * g.unit) {
            const size_t o = off + static_cast<size_t>(at + j * g.unit);
            if (g.unit == 4) move_units<uint32_t>(rows, o, p, g.mask, to_panel);
            else move_units<uint16_t>(rows, o, p, g.mask, to_panel);
        }
        at += g.bytes;
    }
}

} // namespace

bool panel_type(DType t) { return form_of(t).n_segments > 0; }

void pack_panels(DType t, int64_t K, int64_t N, const void *src, void *dst) {
    const size_t row = *dtype_row_bytes(t, static_cast<uint64_t>(K));
    const auto *in = static_cast<const uint8_t *>(src);
    auto *out = static_cast<uint8_t *>(dst);
    const PanelForm form = form_of(t);
    if (form.n_segments == 0 || N < kPanelRows) {
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
    const PanelForm form = form_of(w.type);
    if (w.layout != kLayoutCpuPanels || n >= w.ne[1] / kPanelRows * kPanelRows || form.n_segments == 0)
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
    const PanelForm form = form_of(w.type);
    const size_t row = w.row_bytes(), bb = traits(w.type).block_bytes, nb = row / bb;
    uint8_t *rows[kPanelRows];
    for (int r = 0; r < kPanelRows; ++r) rows[r] = out + r * row;
    const uint8_t *panel = w.row(n0);
    for (size_t b = 0; b < nb; ++b)
        move_block(form, rows, b * bb, const_cast<uint8_t *>(panel) + kPanelRows * bb * b, false);
}

} // namespace corvid::cpu
