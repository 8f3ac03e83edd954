#include "gguf/gguf_file.h"

#include "util/error.h"

#include <algorithm>
#include <cinttypes>
#include <numeric>

namespace corvid::gguf {
namespace {

// Sequential reader over a FileSource with a read-ahead window, so that parsing a
// 256k-token vocabulary without mmap costs a few reads rather than half a million.
class Cursor {
public:
    explicit Cursor(const FileSource &src) : src_(src) {}

    uint64_t pos() const { return pos_; }
    uint64_t remaining() const { return src_.size() - pos_; }

    void read(void *dst, uint64_t n, const char *what) {
        if (n == 0) return; // dst may be the null data() of an empty container
        if (n > remaining()) src_.read_at(pos_, dst, n, what); // throws the truncation error
        if (src_.mapped()) {
            std::memcpy(dst, src_.mapped() + pos_, n);
        } else {
            uint8_t *out = static_cast<uint8_t *>(dst);
            uint64_t left = n;
            while (left > 0) {
                if (pos_ < win_start_ || pos_ >= win_start_ + win_.size()) fill();
                const uint64_t off = pos_ - win_start_;
                const uint64_t take = std::min<uint64_t>(left, win_.size() - off);
                std::memcpy(out, win_.data() + off, take);
                out += take;
                left -= take;
                pos_ += take;
            }
            return;
        }
        pos_ += n;
    }

    template <typename T> T get(const char *what) {
        T v;
        read(&v, sizeof v, what);
        return v;
    }

private:
    void fill() {
        const uint64_t n = std::min<uint64_t>(kWindow, remaining());
        win_.resize(n);
        src_.read_at(pos_, win_.data(), n, "header");
        win_start_ = pos_;
    }

    static constexpr uint64_t kWindow = 1 << 20;
    const FileSource &src_;
    uint64_t pos_ = 0;
    std::vector<uint8_t> win_;
    uint64_t win_start_ = 0;
};

// Context for error messages: "<file>: <what> (at byte N)".
[[noreturn]] void bad(const FileSource &src, uint64_t at, const std::string &what) {
    fail(Status::format, "%s: %s (at byte %" PRIu64 ")", src.path().c_str(), what.c_str(), at);
}

std::string read_string(Cursor &c, const FileSource &src, const char *what) {
    const uint64_t at = c.pos();
    const uint64_t len = c.get<uint64_t>(what);
    if (len > c.remaining())
        bad(src, at, strfmt("%s: string length %" PRIu64 " exceeds the %" PRIu64 " bytes left in the file", what, len,
                            c.remaining()));
    std::string s(len, '\0');
    c.read(s.data(), len, what);
    return s;
}

bool valid_value_type(uint32_t t) { return t < kValueTypeCount; }

Value read_value(Cursor &c, const FileSource &src, ValueType type, const std::string &key) {
    const uint64_t at = c.pos();
    const std::string ctx = "value of key '" + key + "'";
    switch (type) {
    case ValueType::UINT8: return Value::u8(c.get<uint8_t>(ctx.c_str()));
    case ValueType::INT8: return Value::i8(c.get<int8_t>(ctx.c_str()));
    case ValueType::UINT16: return Value::u16(c.get<uint16_t>(ctx.c_str()));
    case ValueType::INT16: return Value::i16(c.get<int16_t>(ctx.c_str()));
    case ValueType::UINT32: return Value::u32(c.get<uint32_t>(ctx.c_str()));
    case ValueType::INT32: return Value::i32(c.get<int32_t>(ctx.c_str()));
    case ValueType::UINT64: return Value::u64(c.get<uint64_t>(ctx.c_str()));
    case ValueType::INT64: return Value::i64(c.get<int64_t>(ctx.c_str()));
    case ValueType::FLOAT32: return Value::f32(c.get<float>(ctx.c_str()));
    case ValueType::FLOAT64: return Value::f64(c.get<double>(ctx.c_str()));
    case ValueType::BOOL: {
        const uint8_t b = c.get<uint8_t>(ctx.c_str());
        if (b > 1) bad(src, at, strfmt("key '%s': bool value is %u, expected 0 or 1", key.c_str(), b));
        return Value::boolean(b != 0);
    }
    case ValueType::STRING: return Value::string(read_string(c, src, ctx.c_str()));
    case ValueType::ARRAY: {
        const uint32_t et = c.get<uint32_t>(ctx.c_str());
        if (!valid_value_type(et))
            bad(src, at, strfmt("key '%s': array element type %u is not a GGUF value type", key.c_str(), et));
        const ValueType elem = static_cast<ValueType>(et);
        if (elem == ValueType::ARRAY)
            fail(Status::unsupported, "%s: key '%s' is an array of arrays, which GGUF readers do not support",
                 src.path().c_str(), key.c_str());
        const uint64_t count_at = c.pos();
        const uint64_t count = c.get<uint64_t>(ctx.c_str());
        if (elem == ValueType::STRING) {
            // Every string needs at least its 8-byte length.
            if (count > c.remaining() / 8)
                bad(src, count_at, strfmt("key '%s': array of %" PRIu64 " strings cannot fit in the %" PRIu64
                                          " bytes left in the file", key.c_str(), count, c.remaining()));
            std::vector<std::string> v;
            v.reserve(count);
            for (uint64_t i = 0; i < count; ++i) v.push_back(read_string(c, src, ctx.c_str()));
            return Value::string_array(std::move(v));
        }
        const uint64_t esz = value_type_size(elem);
        if (count > c.remaining() / esz)
            bad(src, count_at, strfmt("key '%s': array of %" PRIu64 " %s values needs more than the %" PRIu64
                                      " bytes left in the file", key.c_str(), count, value_type_name(elem),
                                      c.remaining()));
        std::vector<uint8_t> raw(count * esz);
        c.read(raw.data(), raw.size(), ctx.c_str());
        if (elem == ValueType::BOOL)
            for (uint64_t i = 0; i < count; ++i)
                if (raw[i] > 1)
                    bad(src, count_at + 8 + i, strfmt("key '%s': bool array element %" PRIu64 " is %u, expected 0 or 1",
                                                      key.c_str(), i, raw[i]));
        return Value::numeric_array(elem, std::move(raw));
    }
    }
    bad(src, at, "unreachable value type");
}

} // namespace

std::unique_ptr<GgufFile> GgufFile::open(const std::string &path, bool use_mmap) {
    std::unique_ptr<GgufFile> f(new GgufFile(std::make_unique<FileSource>(path, use_mmap)));
    f->parse();
    return f;
}

void GgufFile::parse() {
    const FileSource &src = *source_;
    Cursor c(src);

    // Header.
    if (src.size() < 4)
        fail(Status::format, "%s: not a GGUF file: only %" PRIu64 " bytes long", src.path().c_str(), src.size());
    uint8_t magic[4];
    c.read(magic, 4, "magic");
    if (std::memcmp(magic, "GGUF", 4) != 0)
        fail(Status::format, "%s: not a GGUF file: the magic is %02x %02x %02x %02x, expected 47 47 55 46 ('GGUF')",
             src.path().c_str(), magic[0], magic[1], magic[2], magic[3]);
    version_ = c.get<uint32_t>("version");
    if (version_ == 0x02000000u || version_ == 0x03000000u)
        fail(Status::unsupported, "%s: this is a big-endian GGUF file, which Corvid does not read", src.path().c_str());
    if (version_ == 1)
        fail(Status::unsupported, "%s: GGUF version 1 (2023) is not supported; re-convert the model to version 3",
             src.path().c_str());
    if (version_ != 2 && version_ != 3)
        fail(Status::unsupported, "%s: GGUF version %u is not supported (this reader knows versions 2 and 3)",
             src.path().c_str(), version_);

    const uint64_t n_tensors_at = c.pos();
    const uint64_t n_tensors = c.get<uint64_t>("tensor count");
    const uint64_t n_kv_at = c.pos();
    const uint64_t n_kv = c.get<uint64_t>("metadata count");
    // Smallest possible records: a key/value is an 8-byte key length, a 4-byte type and a
    // 1-byte value; a tensor record is an 8-byte name length, 4-byte n_dims, 4-byte type
    // and 8-byte offset. Counts beyond that cannot be real, so nothing is sized by them.
    if (n_kv > c.remaining() / 13)
        bad(src, n_kv_at, strfmt("metadata count %" PRIu64 " is impossible for a file with %" PRIu64 " bytes left",
                                 n_kv, c.remaining()));
    if (n_tensors > c.remaining() / 24)
        bad(src, n_tensors_at, strfmt("tensor count %" PRIu64 " is impossible for a file with %" PRIu64
                                      " bytes left", n_tensors, c.remaining()));

    // Metadata.
    kvs_.reserve(n_kv);
    for (uint64_t i = 0; i < n_kv; ++i) {
        const uint64_t at = c.pos();
        std::string key = read_string(c, src, strfmt("key #%" PRIu64, i).c_str());
        if (kv_index_.count(key)) bad(src, at, strfmt("duplicate metadata key '%s'", key.c_str()));
        const uint64_t type_at = c.pos();
        const uint32_t t = c.get<uint32_t>("value type");
        if (!valid_value_type(t))
            bad(src, type_at, strfmt("key '%s' has value type %u, which is not a GGUF value type", key.c_str(), t));
        Value v = read_value(c, src, static_cast<ValueType>(t), key);
        kv_index_.emplace(key, kvs_.size());
        kvs_.push_back({std::move(key), std::move(v)});
    }

    if (const Value *a = find(kAlignmentKey)) {
        if (a->type() != ValueType::UINT32)
            fail(Status::format, "%s: %s must be a uint32, found %s", src.path().c_str(), kAlignmentKey,
                 value_type_name(a->type()));
        const uint64_t al = a->bits();
        if (al == 0 || (al & (al - 1)) != 0)
            fail(Status::format, "%s: %s = %" PRIu64 " is not a power of two", src.path().c_str(), kAlignmentKey, al);
        alignment_ = static_cast<uint32_t>(al);
    }

    // Tensor records.
    tensors_.reserve(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) {
        const uint64_t at = c.pos();
        TensorInfo ti;
        ti.name = read_string(c, src, strfmt("name of tensor #%" PRIu64, i).c_str());
        const char *nm = ti.name.c_str();
        if (tensor_index_.count(ti.name)) bad(src, at, strfmt("duplicate tensor name '%s'", nm));
        ti.n_dims = c.get<uint32_t>("tensor n_dims");
        if (ti.n_dims > kMaxDims)
            bad(src, at, strfmt("tensor '%s' has %u dimensions; at most %u are allowed", nm, ti.n_dims, kMaxDims));
        // The product of the non-zero dimensions must fit in int64, so that any partial
        // product (rows, planes) computed later cannot overflow either.
        uint64_t prod = 1;
        for (uint32_t d = 0; d < ti.n_dims; ++d) {
            const uint64_t ne = c.get<uint64_t>("tensor dimension");
            if (ne > static_cast<uint64_t>(INT64_MAX) || (ne != 0 && prod > static_cast<uint64_t>(INT64_MAX) / ne))
                bad(src, at, strfmt("tensor '%s': the product of its dimensions overflows (dimension %u is %" PRIu64 ")",
                                    nm, d, ne));
            ti.ne[d] = static_cast<int64_t>(ne);
            if (ne != 0) prod *= ne;
        }
        const uint64_t type_at = c.pos();
        const uint32_t raw_type = c.get<uint32_t>("tensor type");
        const auto tr = dtype_traits(raw_type);
        if (!tr)
            bad(src, type_at, strfmt("tensor '%s' has type id %u: %s", nm, raw_type, dtype_unknown_reason(raw_type)));
        ti.type = tr->type;
        if (ti.ne[0] % tr->block_size != 0)
            bad(src, at, strfmt("tensor '%s': its rows of %" PRId64 " elements are not a whole number of %s blocks of %u",
                                nm, ti.ne[0], tr->name, tr->block_size));
        const uint64_t row_bytes = *dtype_row_bytes(ti.type, static_cast<uint64_t>(ti.ne[0]));
        const uint64_t n_rows = static_cast<uint64_t>(ti.ne[1]) * ti.ne[2] * ti.ne[3];
        if (row_bytes != 0 && n_rows > UINT64_MAX / row_bytes)
            bad(src, at, strfmt("tensor '%s': its size in bytes overflows", nm));
        ti.n_bytes = row_bytes * n_rows;
        const uint64_t off_at = c.pos();
        ti.offset = c.get<uint64_t>("tensor offset");
        if (ti.offset % alignment_ != 0)
            bad(src, off_at, strfmt("tensor '%s': data offset %" PRIu64 " is not a multiple of the alignment %u", nm,
                                    ti.offset, alignment_));
        tensor_index_.emplace(ti.name, tensors_.size());
        tensors_.push_back(std::move(ti));
    }

    // Data section: starts at the next multiple of the alignment.
    const uint64_t header_end = c.pos();
    data_offset_ = header_end + (alignment_ - header_end % alignment_) % alignment_;
    if (n_tensors == 0) return;
    if (data_offset_ > src.size())
        fail(Status::format, "%s: truncated file: the tensor data section starts at byte %" PRIu64
             " but the file has %" PRIu64 " bytes", src.path().c_str(), data_offset_, src.size());
    const uint64_t data_size = src.size() - data_offset_;

    for (const auto &t : tensors_)
        if (t.offset > data_size || t.n_bytes > data_size - t.offset)
            fail(Status::format, "%s: truncated file or bad offset: tensor '%s' (%" PRIu64 " bytes at data offset %" PRIu64
                 ") runs past the end of the file (%" PRIu64 " bytes of data)", src.path().c_str(), t.name.c_str(),
                 t.n_bytes, t.offset, data_size);

    std::vector<size_t> order(tensors_.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tensors_[a].offset < tensors_[b].offset; });
    for (size_t k = 1; k < order.size(); ++k) {
        const TensorInfo &prev = tensors_[order[k - 1]];
        const TensorInfo &cur = tensors_[order[k]];
        if (prev.n_bytes > 0 && cur.n_bytes > 0 && prev.offset + prev.n_bytes > cur.offset)
            fail(Status::format, "%s: tensors '%s' (bytes %" PRIu64 "..%" PRIu64 ") and '%s' (from byte %" PRIu64
                 ") overlap", src.path().c_str(), prev.name.c_str(), prev.offset, prev.offset + prev.n_bytes,
                 cur.name.c_str(), cur.offset);
    }
}

const Value *GgufFile::find(std::string_view key) const {
    auto it = kv_index_.find(std::string(key));
    return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
}

int64_t GgufFile::tensor_index(std::string_view name) const {
    auto it = tensor_index_.find(std::string(name));
    return it == tensor_index_.end() ? -1 : static_cast<int64_t>(it->second);
}

const uint8_t *GgufFile::tensor_data(const TensorInfo &t) const {
    return source_->mapped() ? source_->mapped() + data_offset_ + t.offset : nullptr;
}

void GgufFile::read_tensor_data(const TensorInfo &t, void *dst) const {
    source_->read_at(data_offset_ + t.offset, dst, t.n_bytes, t.name.c_str());
}

} // namespace corvid::gguf
