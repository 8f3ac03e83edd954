// The base-logits file of `corvid perplexity` (format in kl_file.h). Values are written in
// the host's byte order, which the build requires to be little-endian (as GGUF does).
#include "perplexity/kl_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace corvid::cli::ppl {
namespace {

template <typename T> void put(std::vector<uint8_t> &out, T v) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out.insert(out.end(), b, b + sizeof(T));
}

template <typename T> T get(const uint8_t *p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

} // namespace

double encode_record(const float *logits, uint32_t n_vocab, int32_t target, std::vector<uint8_t> &out) {
    float max_logit = logits[0], min_logit = logits[0];
    int32_t top = 0;
    for (uint32_t i = 1; i < n_vocab; ++i) {
        if (logits[i] > max_logit) {
            max_logit = logits[i];
            top = int32_t(i);
        }
        min_logit = std::min(min_logit, logits[i]);
    }
    double sum = 0;
    for (uint32_t i = 0; i < n_vocab; ++i) sum += std::exp(double(logits[i]) - max_logit);
    const double nll = double(max_logit) + std::log(sum) - double(logits[target]);

    const double range = std::min(double(max_logit) - double(min_logit), kLogProbRange);
    const float scale = float(range / 65535.0);
    put<int32_t>(out, top);
    put<float>(out, float(nll));
    put<float>(out, scale);
    const size_t at = out.size();
    out.resize(at + 2 * size_t(n_vocab));
    uint8_t *q = out.data() + at;
    for (uint32_t i = 0; i < n_vocab; ++i) {
        uint16_t v = 0;
        if (scale > 0) {
            const double steps = (double(max_logit) - double(logits[i])) / double(scale);
            v = steps >= 65535.0 ? uint16_t(65535) : uint16_t(std::lround(steps));
        }
        std::memcpy(q + 2 * size_t(i), &v, 2);
    }
    return nll;
}

void decode_record(const uint8_t *bytes, uint32_t n_vocab, KlRecord &rec) {
    rec.top = get<int32_t>(bytes);
    rec.nll = get<float>(bytes + 4);
    const double scale = get<float>(bytes + 8);
    const uint8_t *q = bytes + 12;
    rec.log_probs.resize(n_vocab);
    double sum = 0;
    for (uint32_t i = 0; i < n_vocab; ++i) {
        const double lp = -double(get<uint16_t>(q + 2 * size_t(i))) * scale;
        rec.log_probs[i] = lp;
        sum += std::exp(lp); // lp <= 0 and the best token has lp = 0: no overflow, sum >= 1
    }
    const double lse = std::log(sum);
    for (double &lp : rec.log_probs) lp -= lse;
}

bool KlWriter::open(const std::string &path, const KlHeader &h, const std::vector<int32_t> &tokens, std::string &err) {
    path_ = path;
    tmp_ = path + ".tmp";
    f_ = std::fopen(tmp_.c_str(), "wb");
    if (!f_) {
        err = "cannot write " + tmp_ + ": " + std::strerror(errno);
        return false;
    }
    std::vector<uint8_t> head(kKlMagic, kKlMagic + 8);
    put<uint32_t>(head, kKlVersion);
    put<uint32_t>(head, h.n_vocab);
    put<uint32_t>(head, h.n_ctx);
    put<uint32_t>(head, h.n_chunks);
    put<uint32_t>(head, h.add_bos);
    const size_t n = size_t(h.n_chunks) * h.n_ctx;
    for (size_t i = 0; i < n; ++i) put<int32_t>(head, tokens[i]);
    return write(head, err);
}

bool KlWriter::write(const std::vector<uint8_t> &bytes, std::string &err) {
    if (!f_) {
        err = "the base-logits file is not open";
        return false;
    }
    if (std::fwrite(bytes.data(), 1, bytes.size(), f_) != bytes.size()) {
        err = "error writing " + tmp_ + ": " + std::strerror(errno);
        return false;
    }
    return true;
}

bool KlWriter::commit(std::string &err) {
    if (!f_) {
        err = "the base-logits file is not open";
        return false;
    }
    const bool ok = std::fflush(f_) == 0 && !std::ferror(f_);
    const int close_rc = std::fclose(f_);
    f_ = nullptr;
    if (!ok || close_rc != 0) {
        err = "error writing " + tmp_ + ": " + std::strerror(errno);
        std::remove(tmp_.c_str());
        return false;
    }
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
        err = "cannot rename " + tmp_ + " to " + path_ + ": " + std::strerror(errno);
        std::remove(tmp_.c_str());
        return false;
    }
    tmp_.clear();
    return true;
}

void KlWriter::abandon() {
    if (f_) {
        std::fclose(f_);
        f_ = nullptr;
    }
    if (!tmp_.empty()) {
        std::remove(tmp_.c_str());
        tmp_.clear();
    }
}

bool KlReader::open(const std::string &path, std::string &err) {
    path_ = path;
    f_ = std::fopen(path.c_str(), "rb");
    if (!f_) {
        err = "cannot open " + path + ": " + std::strerror(errno);
        return false;
    }
    uint8_t head[kKlHeaderBytes];
    if (std::fread(head, 1, sizeof head, f_) != sizeof head || std::memcmp(head, kKlMagic, 8) != 0) {
        err = path + ": not a corvid base-logits file (made with --kl-divergence-base)";
        return false;
    }
    const uint32_t version = get<uint32_t>(head + 8);
    if (version != kKlVersion) {
        err = path + ": base-logits file version " + std::to_string(version) + ", this program reads version " +
              std::to_string(kKlVersion);
        return false;
    }
    h_.n_vocab = get<uint32_t>(head + 12);
    h_.n_ctx = get<uint32_t>(head + 16);
    h_.n_chunks = get<uint32_t>(head + 20);
    h_.add_bos = get<uint32_t>(head + 24);
    if (h_.n_vocab == 0 || h_.n_vocab > (1u << 24) || h_.n_ctx < 4 || h_.n_ctx > (1u << 24) || h_.n_chunks == 0 ||
        h_.n_chunks > (1u << 24) || h_.add_bos > 1) {
        err = path + ": implausible header (n_vocab " + std::to_string(h_.n_vocab) + ", n_ctx " +
              std::to_string(h_.n_ctx) + ", n_chunks " + std::to_string(h_.n_chunks) + ")";
        return false;
    }
    // All factors are below 2^24, so these products fit in 64 bits.
    const uint64_t n_tokens = uint64_t(h_.n_chunks) * h_.n_ctx;
    const uint64_t expected = kKlHeaderBytes + 4 * n_tokens + uint64_t(h_.n_chunks) * h_.n_scored() * h_.record_bytes();
    if (std::fseek(f_, 0, SEEK_END) != 0) {
        err = "cannot seek in " + path;
        return false;
    }
    const long size = std::ftell(f_);
    if (size < 0 || uint64_t(size) != expected) {
        err = path + ": size " + std::to_string(size) + " bytes, but its header (n_vocab " +
              std::to_string(h_.n_vocab) + ", n_ctx " + std::to_string(h_.n_ctx) + ", " + std::to_string(h_.n_chunks) +
              " chunks) implies " + std::to_string(expected) + " (truncated or corrupt)";
        return false;
    }
    std::fseek(f_, long(kKlHeaderBytes), SEEK_SET);
    std::vector<uint8_t> raw(4 * n_tokens);
    if (std::fread(raw.data(), 1, raw.size(), f_) != raw.size()) {
        err = "error reading " + path;
        return false;
    }
    tokens_.resize(n_tokens);
    for (uint64_t i = 0; i < n_tokens; ++i) tokens_[i] = get<int32_t>(raw.data() + 4 * i);
    buf_.resize(h_.record_bytes());
    return true;
}

bool KlReader::next(KlRecord &rec, std::string &err) {
    if (std::fread(buf_.data(), 1, buf_.size(), f_) != buf_.size()) {
        err = "error reading " + path_;
        return false;
    }
    decode_record(buf_.data(), h_.n_vocab, rec);
    if (rec.top < 0 || uint32_t(rec.top) >= h_.n_vocab || !std::isfinite(rec.nll)) {
        err = path_ + ": corrupt record";
        return false;
    }
    return true;
}

} // namespace corvid::cli::ppl
