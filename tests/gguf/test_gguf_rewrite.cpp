// Reading a real GGUF and writing it back with our writer reproduces the file byte for
// byte: the writer lays out headers, alignment and padding exactly as llama.cpp's
// tooling does, so what it writes loads wherever the original loads.
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "test_util.h"

#include <doctest/doctest.h>

using namespace corvid;
using namespace corvid::gguf;

namespace {

// Copies every key and tensor of `in` into a new file at `out_path`.
void rewrite(const GgufFile &in, const std::string &out_path) {
    GgufWriter w;
    for (const auto &kv : in.metadata()) w.set(kv.key, kv.value);
    for (const auto &t : in.tensors())
        w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne, t.ne + (t.n_dims ? t.n_dims : 1)));
    w.write(out_path, [&](size_t i, const TensorInfo &, uint8_t *dst) { in.read_tensor_data(in.tensors()[i], dst); });
}

} // namespace

TEST_CASE("gguf rewrite: shared models come back byte-identical") {
    for (const std::string rel : {"models/stories260K.gguf", "models/llama-2-tiny-random.gguf", "vocab/ggml-vocab-qwen2.gguf",
                                  "vocab/ggml-vocab-bert-bge.gguf"}) {
        CAPTURE(rel);
        const std::string src = test::shared_path(rel);
        if (!test::file_exists(src)) {
            MESSAGE("skipped: " << src << " is not here");
            continue;
        }
        auto in = GgufFile::open(src);
        const std::string out = test::temp_path("rewrite.gguf");
        rewrite(*in, out);
        const auto a = test::read_bytes(src);
        const auto b = test::read_bytes(out);
        std::remove(out.c_str());
        CHECK(a.size() == b.size());
        CHECK(a == b);
    }
}
