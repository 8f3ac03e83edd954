// `corvid perplexity -m MODEL -f TEXT [-c CTX] [-b BATCH] [-t THREADS] [--chunks N]`
//   [--kl-divergence-base FILE]            also save the base model's log-probabilities
//   [--kl-divergence --kl-divergence-base FILE]   compare this model against them
//
// The standard method (as llama.cpp's llama-perplexity computes it): the whole text is
// tokenized once (with BOS when the model adds one), split into chunks of n_ctx tokens, and
// each chunk is evaluated from an empty KV cache with its first token replaced by BOS (when
// the model adds BOS). Only the second half is scored: the logits at positions
// n_ctx/2 .. n_ctx-2 predict the tokens at n_ctx/2+1 .. n_ctx-1, by -log softmax. The
// running perplexity is printed after each chunk as [1]x.xxxx,[2]..., then
// "Final estimate: PPL = X +/- Y", where Y = PPL * sqrt((E[nll^2] - E[nll]^2) / (N - 1)).
//
// Everything goes through the public C API (corvid.h).
#include "commands.h"
#include "common.h"
#include "gpu_options.h"
#include "perplexity/kl_file.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>

namespace corvid::cli {
namespace {

using ppl::KlHeader;
using ppl::KlReader;
using ppl::KlRecord;
using ppl::KlWriter;

struct PplOptions {
    std::string model, file, kl_base;
    uint32_t n_ctx = 512, n_batch = 512;
    int threads = 0, chunks = -1;
    GpuOptions gpu;
    bool kl = false, ctx_given = false;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// -log softmax(logits)[target], with the log-sum-exp in double.
double nll_of(const float *logits, uint32_t n_vocab, int32_t target, int32_t *argmax = nullptr) {
    float max_logit = logits[0];
    int32_t best = 0;
    for (uint32_t i = 1; i < n_vocab; ++i)
        if (logits[i] > max_logit) {
            max_logit = logits[i];
            best = int32_t(i);
        }
    double sum = 0;
    for (uint32_t i = 0; i < n_vocab; ++i) sum += std::exp(double(logits[i]) - double(max_logit));
    if (argmax) *argmax = best;
    return double(max_logit) + std::log(sum) - double(logits[target]);
}

// Mean and standard error of the mean from a sum and a sum of squares (0 error for count <= 1).
struct MeanErr {
    double mean = 0, err = 0;
};
MeanErr mean_err(double sum, double sum2, uint64_t count) {
    MeanErr r;
    if (count == 0) return r;
    r.mean = sum / double(count);
    const double var = sum2 / double(count) - r.mean * r.mean;
    r.err = var > 0 && count > 1 ? std::sqrt(var / double(count - 1)) : 0.0;
    return r;
}

// How the model wants its text tokenized: whether it adds BOS, and whether it adds anything
// else (EOS/SEP), in which case we tokenize without specials and add only the BOS.
struct BosPolicy {
    bool add_bos = false, adds_other = false;
    int32_t bos = -1;
};
BosPolicy bos_policy(const corvid_model *m) {
    BosPolicy p;
    p.bos = corvid_vocab_bos(m);
    std::vector<int32_t> empty;
    tokenize(m, std::string(), true, false, empty);
    p.add_bos = !empty.empty() && empty[0] == p.bos && p.bos >= 0;
    p.adds_other = empty.size() > (p.add_bos ? 1u : 0u);
    return p;
}

// Evaluates chunks [0, n_chunks) of `tokens` and calls `on_position(chunk, p, logits, target)`
// for each scored position p (n_ctx/2 .. n_ctx-2), then `on_chunk(chunk)`. Logits are requested
// only for the scored positions; a chunk is decoded in batches of at most n_batch tokens.
bool evaluate(corvid_context *ctx, const std::vector<int32_t> &tokens, uint32_t n_ctx, uint32_t n_batch,
              uint32_t n_chunks, const BosPolicy &bp,
              const std::function<bool(uint32_t, uint32_t, const float *, int32_t)> &on_position,
              const std::function<void(uint32_t, double)> &on_chunk) {
    const uint32_t first = n_ctx / 2;
    std::vector<int32_t> tok, pos;
    std::vector<int8_t> want;
    for (uint32_t c = 0; c < n_chunks; ++c) {
        const auto t0 = std::chrono::steady_clock::now();
        const size_t start = size_t(c) * n_ctx;
        corvid_kv_clear(ctx);
        for (uint32_t j = 0; j < n_ctx; j += n_batch) {
            const uint32_t n = std::min(n_batch, n_ctx - j);
            tok.assign(tokens.begin() + start + j, tokens.begin() + start + j + n);
            if (j == 0 && bp.add_bos) tok[0] = bp.bos;
            pos.resize(n);
            want.resize(n);
            bool any = false;
            for (uint32_t k = 0; k < n; ++k) {
                pos[k] = int32_t(j + k);
                want[k] = (j + k >= first && j + k + 1 < n_ctx) ? 1 : 0;
                any = any || want[k];
            }
            corvid_batch b = {n, tok.data(), pos.data(), nullptr, want.data()};
            if (!any) {
                // No scored position here: still ask for the last token's logits (the API's
                // default) - a batch without outputs is not something we rely on.
                b.logits = nullptr;
            }
            if (corvid_decode(ctx, &b) != CORVID_OK) {
                std::fprintf(stderr, "\ncorvid perplexity: evaluating chunk %u: %s\n", c + 1, corvid_last_error());
                return false;
            }
            for (uint32_t k = 0; k < n; ++k) {
                if (!want[k]) continue;
                const float *logits = corvid_get_logits(ctx, int32_t(k));
                if (!logits) {
                    std::fprintf(stderr, "\ncorvid perplexity: no logits for position %u: %s\n", j + k,
                                 corvid_last_error());
                    return false;
                }
                if (!on_position(c, j + k, logits, tokens[start + j + k + 1])) return false;
            }
        }
        on_chunk(c, seconds_since(t0));
    }
    return true;
}

void print_eta(uint32_t c, double secs, uint32_t n_chunks) {
    if (c != 0) return;
    std::fprintf(stderr, "perplexity: %.2f seconds per chunk - ETA %.2f minutes\n", secs, secs * n_chunks / 60.0);
}

struct Setup {
    corvid_model *m = nullptr;
    corvid_context *ctx = nullptr;
    uint32_t n_vocab = 0;
    BosPolicy bp;
    ~Setup() {
        corvid_context_free(ctx);
        corvid_model_close(m);
    }
};

// Opens the model and a context of n_ctx cells; false after printing the reason.
bool open_all(const PplOptions &o, uint32_t n_ctx, Setup &s) {
    s.m = open_model("perplexity", o.model, CORVID_LOAD_FULL, o.gpu.gpu_layers, o.gpu.main_gpu, !o.gpu.no_mmap);
    if (!s.m) return false;
    const int64_t nv = corvid_model_n_vocab(s.m);
    if (nv <= 0) {
        std::fprintf(stderr, "corvid perplexity: %s has no vocabulary\n", o.model.c_str());
        return false;
    }
    s.n_vocab = uint32_t(nv);
    s.bp = bos_policy(s.m);
    const int64_t n_train = corvid_model_n_ctx_train(s.m);
    if (n_train > 0 && int64_t(n_ctx) > n_train)
        std::fprintf(stderr, "corvid perplexity: warning: the model was trained on %lld tokens of context (-c %u)\n",
                     (long long)n_train, n_ctx);
    corvid_context_params cp = corvid_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = std::min(o.n_batch, n_ctx);
    cp.n_threads = o.threads;
    if (corvid_context_create(s.m, &cp, &s.ctx) != CORVID_OK) {
        std::fprintf(stderr, "corvid perplexity: creating the context: %s\n", corvid_last_error());
        return false;
    }
    if (corvid_context_n_ctx(s.ctx) < n_ctx) {
        std::fprintf(stderr, "corvid perplexity: the context has %u cells, %u needed\n", corvid_context_n_ctx(s.ctx),
                     n_ctx);
        return false;
    }
    return true;
}

// Tokenizes the text as llama-perplexity does; false after printing the reason.
bool tokenize_text(const Setup &s, const std::string &path, std::vector<int32_t> &toks) {
    std::string text;
    if (!read_text_file("perplexity", path, text)) return false;
    const bool specials = !s.bp.adds_other;
    if (tokenize(s.m, text, specials, false, toks) != CORVID_OK) {
        std::fprintf(stderr, "corvid perplexity: tokenizing %s: %s\n", path.c_str(), corvid_last_error());
        return false;
    }
    if (!specials && s.bp.add_bos) toks.insert(toks.begin(), s.bp.bos);
    return true;
}

void print_final(double nll, double nll2, uint64_t count) {
    std::printf("\n");
    const MeanErr e = mean_err(nll, nll2, count);
    const double ppl = std::exp(e.mean);
    if (count > 1 && e.err > 0)
        std::printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, e.err * ppl);
    else
        std::printf("Final estimate: PPL = %.4f +/- nan (too few scored tokens for an error)\n", ppl);
}

// ---------------------------------------------------------------- plain perplexity (+ saving base logits)

int run_perplexity(const PplOptions &o) {
    Setup s;
    if (!open_all(o, o.n_ctx, s)) return 1;
    std::vector<int32_t> toks;
    if (!tokenize_text(s, o.file, toks)) return 1;
    const uint32_t n_ctx = o.n_ctx;
    if (toks.size() < 2 * size_t(n_ctx)) {
        std::fprintf(stderr,
                     "corvid perplexity: %s tokenizes to only %zu tokens; a context of %u needs at least %zu "
                     "(two chunks of %u)\n",
                     o.file.c_str(), toks.size(), n_ctx, 2 * size_t(n_ctx), n_ctx);
        return 1;
    }
    const uint32_t n_max = uint32_t(toks.size() / n_ctx);
    const uint32_t n_chunks = o.chunks < 0 ? n_max : std::min<uint32_t>(uint32_t(o.chunks), n_max);
    if (n_chunks == 0) {
        std::fprintf(stderr, "corvid perplexity: --chunks 0: nothing to evaluate\n");
        return 1;
    }
    const uint32_t n_batch = std::min(o.n_batch, n_ctx);
    std::fprintf(stderr, "perplexity: %zu tokens, evaluating %u of %u chunks of %u tokens, batch %u, BOS %s, vocab %u\n",
                 toks.size(), n_chunks, n_max, n_ctx, n_batch, s.bp.add_bos ? "yes" : "no", s.n_vocab);

    KlWriter writer;
    std::string err;
    const bool save = !o.kl_base.empty();
    if (save) {
        KlHeader h;
        h.n_vocab = s.n_vocab;
        h.n_ctx = n_ctx;
        h.n_chunks = n_chunks;
        h.add_bos = s.bp.add_bos ? 1 : 0;
        if (!writer.open(o.kl_base, h, toks, err)) {
            std::fprintf(stderr, "corvid perplexity: %s\n", err.c_str());
            return 1;
        }
    }

    double nll = 0, nll2 = 0;
    uint64_t count = 0;
    std::vector<uint8_t> rec;
    auto on_pos = [&](uint32_t, uint32_t, const float *logits, int32_t target) {
        double v;
        if (save) {
            rec.clear();
            v = ppl::encode_record(logits, s.n_vocab, target, rec);
            if (!writer.write(rec, err)) {
                std::fprintf(stderr, "\ncorvid perplexity: %s\n", err.c_str());
                return false;
            }
        } else {
            v = nll_of(logits, s.n_vocab, target);
        }
        nll += v;
        nll2 += v * v;
        ++count;
        return true;
    };
    auto on_chunk = [&](uint32_t c, double secs) {
        print_eta(c, secs, n_chunks);
        std::printf("[%u]%.4f,", c + 1, std::exp(nll / double(count)));
        std::fflush(stdout);
    };
    const auto t0 = std::chrono::steady_clock::now();
    if (!evaluate(s.ctx, toks, n_ctx, n_batch, n_chunks, s.bp, on_pos, on_chunk)) return 1;
    print_final(nll, nll2, count);
    if (save) {
        if (!writer.commit(err)) {
            std::fprintf(stderr, "corvid perplexity: %s\n", err.c_str());
            return 1;
        }
        std::fprintf(stderr, "perplexity: saved the base log-probabilities of %llu positions to %s\n",
                     (unsigned long long)count, o.kl_base.c_str());
    }
    const double secs = seconds_since(t0);
    std::fprintf(stderr, "perplexity: %u chunks in %.2f s (%.2f tokens/s)\n", n_chunks, secs,
                 double(n_chunks) * n_ctx / std::max(secs, 1e-9));
    return 0;
}

// ---------------------------------------------------------------- KL divergence against saved base logits

struct KlStats {
    double nll = 0, nll2 = 0, nll_b = 0, nll_b2 = 0, nll_nll_b = 0;
    double kld = 0, kld2 = 0, dp = 0, dp2 = 0, dp4 = 0;
    uint64_t same_top = 0, count = 0;
    std::vector<float> kld_values, dp_values;

    double cov_nll() const { // covariance of the two means
        if (count < 2) return 0;
        const double n = double(count);
        return (nll_nll_b / n - (nll / n) * (nll_b / n)) / (n - 1);
    }
};

// A percentile of sorted values, interpolating linearly between neighbours.
double percentile(const std::vector<float> &v, double f) {
    if (f <= 0) return v.front();
    if (f >= 1) return v.back();
    const double p = f * double(v.size() - 1);
    const size_t i = size_t(p);
    const double t = p - double(i);
    return (1 - t) * v[i] + t * v[std::min(i + 1, v.size() - 1)];
}

double median(const std::vector<float> &v) {
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (double(v[n / 2 - 1]) + v[n / 2]);
}

void print_kl_chunk(uint32_t c, const KlStats &k) {
    const MeanErr lq = mean_err(k.nll, k.nll2, k.count), lb = mean_err(k.nll_b, k.nll_b2, k.count);
    const double ppl = std::exp(lq.mean);
    const double ratio_unc = std::sqrt(std::max(0.0, lq.err * lq.err + lb.err * lb.err - 2 * k.cov_nll()));
    const MeanErr kl = mean_err(k.kld, k.kld2, k.count);
    const MeanErr mse = mean_err(k.dp2, k.dp4, k.count);
    const double rms = std::sqrt(mse.mean), rms_unc = rms > 0 ? 0.5 / rms * mse.err : 0;
    const double top = double(k.same_top) / double(k.count);
    const double top_unc = k.count > 1 ? std::sqrt(top * (1 - top) / double(k.count - 1)) : 0;
    std::printf("%4u    %9.4f ± %9.4f    %10.5f ± %10.5f    %10.5f ± %10.5f    %6.3f ± %6.3f %%    %6.3f ± %6.3f %%\n",
                c + 1, ppl, ppl * lq.err, lq.mean - lb.mean, ratio_unc, kl.mean, kl.err, 100 * rms, 100 * rms_unc,
                100 * top, 100 * top_unc);
    std::fflush(stdout);
}

void print_kl_summary(KlStats &k) {
    std::sort(k.kld_values.begin(), k.kld_values.end());
    std::sort(k.dp_values.begin(), k.dp_values.end());
    if (k.count < 100)
        std::printf("\n(only %llu scored positions: the statistics below are rough)\n", (unsigned long long)k.count);

    const MeanErr lq = mean_err(k.nll, k.nll2, k.count), lb = mean_err(k.nll_b, k.nll_b2, k.count);
    const double cov = k.cov_nll();
    const double ppl_q = std::exp(lq.mean), ppl_b = std::exp(lb.mean);
    const double unc_q = ppl_q * lq.err, unc_b = ppl_b * lb.err;
    std::printf("\n====== Perplexity statistics ======\n");
    std::printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", ppl_q, unc_q);
    std::printf("Mean PPL(base)                : %10.6f ± %10.6f\n", ppl_b, unc_b);
    const double denom = lq.err * lb.err;
    std::printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", denom > 0 ? 100.0 * cov / denom : 100.0);
    const double lr = lq.mean - lb.mean;
    const double lr_unc = std::sqrt(std::max(0.0, lq.err * lq.err + lb.err * lb.err - 2 * cov));
    std::printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", lr, lr_unc);
    std::printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", std::exp(lr), std::exp(lr) * lr_unc);
    const double d_unc = std::sqrt(std::max(0.0, unc_q * unc_q + unc_b * unc_b - 2 * ppl_q * ppl_b * cov));
    std::printf("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n", ppl_q - ppl_b, d_unc);

    std::printf("\n====== KL divergence statistics ======\n");
    const MeanErr kl = mean_err(k.kld, k.kld2, k.count);
    std::printf("Mean    KLD: %10.6f ± %10.6f\n", kl.mean, kl.err);
    const auto &kv = k.kld_values;
    std::printf("Maximum KLD: %10.6f\n", double(kv.back()));
    std::printf("99.9%%   KLD: %10.6f\n", percentile(kv, 0.999));
    std::printf("99.0%%   KLD: %10.6f\n", percentile(kv, 0.990));
    std::printf("95.0%%   KLD: %10.6f\n", percentile(kv, 0.950));
    std::printf("90.0%%   KLD: %10.6f\n", percentile(kv, 0.900));
    std::printf("Median  KLD: %10.6f\n", median(kv));
    std::printf("10.0%%   KLD: %10.6f\n", percentile(kv, 0.100));
    std::printf(" 5.0%%   KLD: %10.6f\n", percentile(kv, 0.050));
    std::printf(" 1.0%%   KLD: %10.6f\n", percentile(kv, 0.010));
    std::printf(" 0.1%%   KLD: %10.6f\n", percentile(kv, 0.001));
    std::printf("Minimum KLD: %10.6f\n", double(kv.front()));

    std::printf("\n====== Token probability statistics ======\n");
    const MeanErr dp = mean_err(k.dp, k.dp2, k.count);
    const auto &pv = k.dp_values;
    std::printf("Mean    Δp: %6.3f ± %5.3f %%\n", 100 * dp.mean, 100 * dp.err);
    std::printf("Maximum Δp: %6.3f%%\n", 100.0 * pv.back());
    const std::pair<const char *, double> qs[] = {{"99.9%", 0.999}, {"99.0%", 0.990}, {"95.0%", 0.950},
                                                  {"90.0%", 0.900}, {"75.0%", 0.750}};
    for (const auto &q : qs) std::printf("%-5s   Δp: %6.3f%%\n", q.first, 100 * percentile(pv, q.second));
    std::printf("Median  Δp: %6.3f%%\n", 100 * median(pv));
    const std::pair<const char *, double> qs2[] = {{"25.0%", 0.250}, {"10.0%", 0.100}, {" 5.0%", 0.050},
                                                   {" 1.0%", 0.010}, {" 0.1%", 0.001}};
    for (const auto &q : qs2) std::printf("%-5s   Δp: %6.3f%%\n", q.first, 100 * percentile(pv, q.second));
    std::printf("Minimum Δp: %6.3f%%\n", 100.0 * pv.front());
    const MeanErr mse = mean_err(k.dp2, k.dp4, k.count);
    const double rms = std::sqrt(mse.mean);
    std::printf("RMS Δp    : %6.3f ± %5.3f %%\n", 100 * rms, rms > 0 ? 100 * 0.5 / rms * mse.err : 0.0);
    const double top = double(k.same_top) / double(k.count);
    std::printf("Same top p: %6.3f ± %5.3f %%\n", 100 * top,
                k.count > 1 ? 100 * std::sqrt(top * (1 - top) / double(k.count - 1)) : 0.0);
}

int run_kl(const PplOptions &o) {
    KlReader reader;
    std::string err;
    if (!reader.open(o.kl_base, err)) {
        std::fprintf(stderr, "corvid perplexity: %s\n", err.c_str());
        return 1;
    }
    const KlHeader &h = reader.header();
    if (o.ctx_given && o.n_ctx != h.n_ctx) {
        std::fprintf(stderr, "corvid perplexity: %s was made with a context of %u, not %u (-c)\n", o.kl_base.c_str(),
                     h.n_ctx, o.n_ctx);
        return 1;
    }
    const uint32_t n_ctx = h.n_ctx;
    Setup s;
    if (!open_all(o, n_ctx, s)) return 1;
    if (s.n_vocab != h.n_vocab) {
        std::fprintf(stderr, "corvid perplexity: %s has a vocabulary of %u tokens, the model %u\n", o.kl_base.c_str(),
                     h.n_vocab, s.n_vocab);
        return 1;
    }
    if (uint32_t(s.bp.add_bos) != h.add_bos) {
        std::fprintf(stderr, "corvid perplexity: %s was made %s BOS, but this model %s one\n", o.kl_base.c_str(),
                     h.add_bos ? "with" : "without", s.bp.add_bos ? "adds" : "does not add");
        return 1;
    }
    const std::vector<int32_t> &toks = reader.tokens();
    for (size_t i = 0; i < toks.size(); ++i)
        if (toks[i] < 0 || uint32_t(toks[i]) >= s.n_vocab) {
            std::fprintf(stderr, "corvid perplexity: %s: token %zu is %d, outside the vocabulary\n", o.kl_base.c_str(),
                         i, toks[i]);
            return 1;
        }
    if (!o.file.empty()) { // the text is optional; when given it must tokenize to the same tokens
        std::vector<int32_t> mine;
        if (!tokenize_text(s, o.file, mine)) return 1;
        size_t i = 0;
        while (i < toks.size() && i < mine.size() && toks[i] == mine[i]) ++i;
        if (i < toks.size() && i == mine.size()) {
            std::fprintf(stderr, "corvid perplexity: %s tokenizes to %zu tokens, fewer than the %zu in %s\n",
                         o.file.c_str(), mine.size(), toks.size(), o.kl_base.c_str());
            return 1;
        }
        if (i < toks.size()) {
            std::fprintf(stderr, "corvid perplexity: %s tokenizes differently from the tokens in %s (from token %zu)\n",
                         o.file.c_str(), o.kl_base.c_str(), i);
            return 1;
        }
    }
    const uint32_t n_chunks = o.chunks < 0 ? h.n_chunks : std::min<uint32_t>(uint32_t(o.chunks), h.n_chunks);
    if (n_chunks == 0) {
        std::fprintf(stderr, "corvid perplexity: --chunks 0: nothing to evaluate\n");
        return 1;
    }
    const uint32_t n_batch = std::min(o.n_batch, n_ctx);
    std::fprintf(stderr, "perplexity: KL divergence against %s: %u chunks of %u, batch %u, vocab %u\n",
                 o.kl_base.c_str(), n_chunks, n_ctx, n_batch, s.n_vocab);
    std::printf("chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              Δp RMS"
                "            Same top p\n");

    KlStats k;
    k.kld_values.reserve(size_t(n_chunks) * h.n_scored());
    k.dp_values.reserve(size_t(n_chunks) * h.n_scored());
    KlRecord rec;
    auto on_pos = [&](uint32_t, uint32_t, const float *logits, int32_t target) {
        if (!reader.next(rec, err)) {
            std::fprintf(stderr, "\ncorvid perplexity: %s\n", err.c_str());
            return false;
        }
        // log-probabilities of this model, in double
        float max_logit = logits[0];
        int32_t top = 0;
        for (uint32_t i = 1; i < s.n_vocab; ++i)
            if (logits[i] > max_logit) {
                max_logit = logits[i];
                top = int32_t(i);
            }
        double sum = 0;
        for (uint32_t i = 0; i < s.n_vocab; ++i) sum += std::exp(double(logits[i]) - double(max_logit));
        const double lse = double(max_logit) + std::log(sum);
        double kld = 0;
        for (uint32_t i = 0; i < s.n_vocab; ++i) {
            const double lpb = rec.log_probs[i];
            if (lpb < -60) continue; // p_base < 1e-26
            kld += std::exp(lpb) * (lpb - (double(logits[i]) - lse));
        }
        const double nll = lse - double(logits[target]);
        const double nll_b = rec.nll;
        k.nll += nll;
        k.nll2 += nll * nll;
        k.nll_b += nll_b;
        k.nll_b2 += nll_b * nll_b;
        k.nll_nll_b += nll * nll_b;
        k.kld += kld;
        k.kld2 += kld * kld;
        const double dp = std::exp(-nll) - std::exp(-nll_b);
        k.dp += dp;
        k.dp2 += dp * dp;
        k.dp4 += dp * dp * dp * dp;
        k.same_top += top == rec.top;
        ++k.count;
        k.kld_values.push_back(float(kld));
        k.dp_values.push_back(float(dp));
        return true;
    };
    auto on_chunk = [&](uint32_t c, double secs) {
        print_eta(c, secs, n_chunks);
        print_kl_chunk(c, k);
    };
    if (!evaluate(s.ctx, toks, n_ctx, n_batch, n_chunks, s.bp, on_pos, on_chunk)) return 1;
    print_kl_summary(k);
    return 0;
}

} // namespace

void add_perplexity_command(CLI::App &app, int *exit_code) {
    auto o = std::make_shared<PplOptions>();
    CLI::App *cmd = app.add_subcommand("perplexity", "Perplexity of a model on a text (llama.cpp's method), "
                                                     "and KL divergence against a base model");
    cmd->add_option("-m,--model", o->model, "GGUF model file")->required();
    auto *f = cmd->add_option("-f,--file", o->file, "Text file to score");
    auto *c = cmd->add_option("-c,--ctx-size", o->n_ctx, "Tokens per chunk (context size)")->capture_default_str();
    cmd->add_option("-b,--batch-size", o->n_batch, "Tokens per evaluation (at most the context size)")
        ->capture_default_str();
    cmd->add_option("-t,--threads", o->threads, "Threads (0 = physical cores)")->capture_default_str();
    add_gpu_options(cmd, &o->gpu);
    cmd->add_option("--chunks", o->chunks, "Evaluate at most this many chunks (-1 = all)")->capture_default_str();
    auto *base = cmd->add_option("--kl-divergence-base", o->kl_base,
                                 "Base log-probabilities file: written by a plain run, read with --kl-divergence");
    auto *kl = cmd->add_flag("--kl-divergence", o->kl,
                             "Compare the model with the base log-probabilities of --kl-divergence-base "
                             "(tokens and context come from that file; -f is then optional, checked when given)");
    cmd->callback([o, exit_code, f, c, base, kl] {
        o->ctx_given = c->count() > 0;
        if (kl->count() > 0 && base->count() == 0) {
            std::fprintf(stderr, "corvid perplexity: --kl-divergence needs --kl-divergence-base FILE\n");
            *exit_code = 2;
            return;
        }
        if (!o->kl && f->count() == 0) {
            std::fprintf(stderr, "corvid perplexity: give the text with -f FILE\n");
            *exit_code = 2;
            return;
        }
        if (o->n_ctx < 4 || o->n_batch == 0) {
            std::fprintf(stderr, "corvid perplexity: the context must be at least 4 tokens and the batch at least 1\n");
            *exit_code = 2;
            return;
        }
        *exit_code = o->kl ? run_kl(*o) : run_perplexity(*o);
    });
}

} // namespace corvid::cli
