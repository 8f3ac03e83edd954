// Bad models and bad batches give errors that name the cause, and nothing crashes.
#include "gguf/gguf_writer.h"
#include "runtime/context.h"
#include "test_util.h"
#include "util/error.h"

#include <doctest/doctest.h>

#include <functional>

using namespace corvid;
using namespace corvid::gguf;

namespace {

// Rewrites stories260K with `edit` applied to the metadata and `skip` naming a tensor to
// leave out, loads it in full mode and returns the error (or fails the test).
Error load_error(const std::function<void(GgufWriter &)> &edit, const std::string &skip = "") {
    auto in = GgufFile::open(test::shared_path("models/stories260K.gguf"));
    GgufWriter w;
    for (const auto &kv : in->metadata()) w.set(kv.key, kv.value);
    edit(w);
    std::vector<size_t> kept;
    for (size_t i = 0; i < in->tensors().size(); ++i) {
        const auto &t = in->tensors()[i];
        if (t.name == skip) continue;
        w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne, t.ne + t.n_dims));
        kept.push_back(i);
    }
    const std::string path = test::temp_path("bad-model.gguf");
    w.write(path, [&](size_t i, const TensorInfo &, uint8_t *dst) { in->read_tensor_data(in->tensors()[kept[i]], dst); });
    try {
        Model::load(path, LoadMode::full, true);
    } catch (const Error &e) {
        std::remove(path.c_str());
        return e;
    }
    std::remove(path.c_str());
    FAIL("the model loaded without an error");
    return Error(Status::ok, "");
}

bool have_stories() { return test::file_exists(test::shared_path("models/stories260K.gguf")); }

} // namespace

TEST_CASE("model errors: unknown architecture, missing key, missing tensor, wrong shape") {
    if (!have_stories()) return;
    {
        const Error e = load_error([](GgufWriter &w) { w.set("general.architecture", Value::string("mamba9")); });
        CHECK(e.status() == Status::unsupported);
        CHECK(std::string(e.what()).find("'mamba9' is not supported (supported: llama, qwen2, gemma3)") != std::string::npos);
    }
    {
        const Error e = load_error([](GgufWriter &w) { w.remove("llama.block_count"); });
        CHECK(e.status() == Status::format);
        CHECK(std::string(e.what()).find("'llama.block_count' is missing") != std::string::npos);
    }
    {
        const Error e = load_error([](GgufWriter &) {}, "blk.3.ffn_up.weight");
        CHECK(e.status() == Status::format);
        CHECK(std::string(e.what()).find("no tensor 'blk.3.ffn_up.weight'") != std::string::npos);
    }
    {
        const Error e = load_error([](GgufWriter &w) { w.set("llama.feed_forward_length", Value::u32(171)); });
        CHECK(e.status() == Status::format);
        CHECK(std::string(e.what()).find("blk.0.ffn_gate.weight' has shape [64, 172") != std::string::npos);
    }
    {
        const Error e = load_error([](GgufWriter &w) { w.set("llama.attention.head_count_kv", Value::u32(3)); });
        CHECK(e.status() == Status::format);
        CHECK(std::string(e.what()).find("KV heads") != std::string::npos);
    }
    {
        const Error e = load_error([](GgufWriter &w) { w.set("llama.embedding_length", Value::string("64")); });
        CHECK(std::string(e.what()).find("must be an integer") != std::string::npos);
    }
}

TEST_CASE("context errors: bad tokens, positions and a prompt longer than the context leave the cache unchanged") {
    if (!have_stories()) return;
    auto model = Model::load(test::shared_path("models/stories260K.gguf"), LoadMode::full, true);
    ContextParams cp;
    cp.n_ctx = 16;
    Context ctx(*model, cp);
    Batch b;
    b.tokens = {1, 403};
    ctx.decode(b);
    CHECK(ctx.kv().n_used() == 2);

    Batch bad;
    bad.tokens = {1, 512};
    CHECK_THROWS_WITH_AS(ctx.decode(bad), doctest::Contains("id 512, outside the vocabulary 0..511"), Error);
    bad.tokens = std::vector<int32_t>(15, 300);
    CHECK_THROWS_WITH_AS(ctx.decode(bad), doctest::Contains("longer than the context"), Error);
    bad.tokens = {5};
    bad.pos = {-1};
    CHECK_THROWS_AS(ctx.decode(bad), Error);
    bad.pos.clear();
    bad.seq = {64};
    CHECK_THROWS_AS(ctx.decode(bad), Error);
    Batch empty;
    CHECK_THROWS_AS(ctx.decode(empty), Error);
    CHECK(ctx.kv().n_used() == 2);
    CHECK_THROWS_AS(ctx.logits(0), Error); // token 0 of the last good batch had no logits

    // Exactly filling the context works; one more token does not.
    Batch fill;
    fill.tokens = std::vector<int32_t>(14, 300);
    ctx.decode(fill);
    Batch one;
    one.tokens = {300};
    CHECK_THROWS_AS(ctx.decode(one), Error);
}

TEST_CASE("context: two sequences in one batch see only their own tokens") {
    if (!have_stories()) return;
    auto model = Model::load(test::shared_path("models/stories260K.gguf"), LoadMode::full, true);
    ContextParams cp;
    cp.n_ctx = 64;
    // The same prompt alone, and interleaved with another sequence, gives the same logits.
    Context a(*model, cp), b(*model, cp);
    Batch alone;
    alone.tokens = {1, 403, 407, 261, 378};
    a.decode(alone);
    Batch mixed;
    mixed.tokens = {1, 1, 403, 300, 407, 301, 261, 378};
    mixed.seq = {0, 1, 0, 1, 0, 1, 0, 0};
    mixed.pos = {0, 0, 1, 1, 2, 2, 3, 4};
    mixed.logits = {0, 0, 0, 0, 0, 1, 0, 1};
    b.decode(mixed);
    const float *la = a.logits(-1), *lb = b.logits(7);
    for (int i = 0; i < 512; ++i) REQUIRE(la[i] == doctest::Approx(lb[i]).epsilon(1e-5));
    // And removing sequence 1 frees its cells.
    b.kv().seq_remove(1, -1, -1);
    CHECK(b.kv().n_used() == 5);
}
