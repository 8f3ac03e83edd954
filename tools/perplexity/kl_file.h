// The base-logits file of `corvid perplexity --kl-divergence-base FILE` and its reader.
//
// Format (version 1, all integers and floats little-endian, no padding):
//
//   offset  size                 field
//   0       8                    magic "CVKLBASE"
//   8       4   uint32           version (1)
//   12      4   uint32           n_vocab
//   16      4   uint32           n_ctx       (tokens per chunk)
//   20      4   uint32           n_chunks
//   24      4   uint32           add_bos     (1 when each chunk's first token was replaced by BOS)
//   28      4*n_chunks*n_ctx     int32 tokens: the text's tokens as tokenized, before any BOS
//                                replacement; chunk c is tokens[c*n_ctx, (c+1)*n_ctx)
//   ...     records              n_chunks * n_scored records, n_scored = n_ctx - 1 - n_ctx/2:
//                                one per scored position p = n_ctx/2 .. n_ctx-2 of each chunk
//                                (it predicts the token at p+1), in chunk then position order.
//
//   record (12 + 2*n_vocab bytes):
//     int32   top      the base model's most likely token (first index on ties), exact
//     float   nll      -log p(next token), computed in double, stored exactly as a float
//     float   scale    step of the quantized log-probabilities below
//     uint16  q[n_vocab]  q[i] = round((max_logit - logit[i]) / scale), clamped to 65535.
//                      The most likely token has q = 0 (stored exactly); the range is
//                      min(max_logit - min_logit, kLogProbRange) nats, so scale <= 40/65535
//                      (an error of at most 3.1e-4 in a log-probability); tokens more than 40
//                      nats below the best (p < 4e-18 relative) all read as 40 nats below.
//                      The reader turns q back into log-probabilities as
//                      -q[i]*scale - log(sum_j exp(-q[j]*scale)), i.e. renormalised, so the
//                      base distribution sums to 1 exactly and a model compared with itself
//                      gives a KL divergence of ~1e-8 rather than the quantization step.
//
// The file is written to FILE.tmp and renamed when complete. The reader checks the magic, the
// version and that the file size is exactly what the header implies before it allocates.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace corvid::cli::ppl {

inline constexpr char kKlMagic[8] = {'C', 'V', 'K', 'L', 'B', 'A', 'S', 'E'};
inline constexpr uint32_t kKlVersion = 1;
inline constexpr double kLogProbRange = 40.0;
inline constexpr size_t kKlHeaderBytes = 28;

struct KlHeader {
    uint32_t n_vocab = 0, n_ctx = 0, n_chunks = 0, add_bos = 0;
    uint32_t n_scored() const { return n_ctx - 1 - n_ctx / 2; }
    uint64_t record_bytes() const { return 12 + 2 * uint64_t(n_vocab); }
};

// One scored position of the base model, as the reader returns it.
struct KlRecord {
    int32_t top = 0;
    float nll = 0;
    std::vector<double> log_probs; // n_vocab, renormalised
};

// Encodes the logits of one position into a record (appended to `out`). `target` is the
// token that follows. Returns the exact nll (double) for the caller's perplexity sums.
double encode_record(const float *logits, uint32_t n_vocab, int32_t target, std::vector<uint8_t> &out);

// Decodes a record's bytes (record_bytes() of them).
void decode_record(const uint8_t *bytes, uint32_t n_vocab, KlRecord &rec);

class KlWriter {
public:
    // Opens PATH.tmp; false with `err` set when it cannot.
    bool open(const std::string &path, const KlHeader &h, const std::vector<int32_t> &tokens, std::string &err);
    bool write(const std::vector<uint8_t> &bytes, std::string &err);
    // Closes and renames PATH.tmp to PATH.
    bool commit(std::string &err);
    // Closes and removes PATH.tmp (on failure paths); safe to call twice.
    void abandon();
    ~KlWriter() { abandon(); }

private:
    std::string path_, tmp_;
    FILE *f_ = nullptr;
};

class KlReader {
public:
    // Reads and validates the header and the tokens; false with `err` set when the file
    // cannot be opened, is not such a file, or its size does not match its header.
    bool open(const std::string &path, std::string &err);
    const KlHeader &header() const { return h_; }
    const std::vector<int32_t> &tokens() const { return tokens_; }
    // Reads the next record.
    bool next(KlRecord &rec, std::string &err);
    ~KlReader() {
        if (f_) std::fclose(f_);
    }

private:
    std::string path_;
    FILE *f_ = nullptr;
    KlHeader h_;
    std::vector<int32_t> tokens_;
    std::vector<uint8_t> buf_;
};

} // namespace corvid::cli::ppl
