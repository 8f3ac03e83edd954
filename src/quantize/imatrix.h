// Importance matrices (llama.cpp's llama-imatrix output) for `corvid quantize --imatrix`.
//
// An importance matrix holds, for each weight matrix W (by tensor name), the mean of the
// squared activations that entered each of W's input columns over some calibration text:
// one value per element of a row of W (per row of each expert slice, for 3-D expert
// tensors). The quantizers weight each column's rounding error by it.
//
// Two file formats, both read the way llama-quantize reads them:
//
//   * GGUF (llama.cpp's current format): metadata general.type = "imatrix",
//     imatrix.datasets (array of strings), imatrix.chunk_count, imatrix.chunk_size (all
//     three required, as llama-quantize requires them); for each weight W two F32 tensors,
//     "W.in_sum2" (the sums of squared activations, ne = [row length, n_matrices]) and
//     "W.counts" (how many activations each matrix saw, ne = [1, n_matrices]); an optional
//     "W.in_sum" (plain sums) is ignored. The importance is in_sum2 / round(count) per
//     matrix, or 1 where the count rounds to 0.
//   * legacy .dat: int32 n_entries, then per entry int32 name length, the name bytes,
//     int32 ncall, int32 nval, nval float32 values; then optionally int32 chunk count,
//     int32 dataset-name length and the name. The importance is value / ncall (the values
//     themselves when ncall <= 0). All little-endian.
//
// Everything is validated: a truncated or inconsistent file, a non-finite or negative
// value, a duplicated entry is a clear error (Status::format), never a crash; sizes are
// bounded by the file's size before anything is allocated.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace corvid::quant {

struct Imatrix {
    std::string path;
    bool legacy = false;                // the .dat format
    std::vector<std::string> datasets;  // calibration text names
    int64_t chunk_count = 0;            // chunks of calibration text (0 = not recorded)
    int64_t chunk_size = 0;             // tokens per chunk (GGUF only; 0 = not recorded)
    // weight name -> importance, n_matrices * row length values, all finite and >= 0.
    std::map<std::string, std::vector<float>> entries;

    // The importance of `name`, or nullptr.
    const std::vector<float> *find(const std::string &name) const;
};

// Reads either format (GGUF when the file starts with "GGUF"). Throws Error: io (cannot
// read) or format (anything malformed, naming the file and the entry).
Imatrix load_imatrix(const std::string &path);

} // namespace corvid::quant
