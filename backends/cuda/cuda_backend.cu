// The CUDA backend object: memory (device allocations, pinned staging for uploads, the
// scratch pool), one stream that orders every transfer and kernel, and compute() that
// enqueues each node's kernels without waiting for the host.
#include "cuda/cuda_backend.h"
#include "cuda/cuda_fuse.h"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_planar.cuh"
#include "cuda/cuda_trace.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

namespace corvid {
namespace cuda {

std::string device_problem(int device); // cuda_device.cu

void *Context::scratch(ScratchSlot slot, size_t bytes) {
    if (bytes == 0) bytes = 1;
    if (scratch_bytes_[slot] >= bytes) return scratch_ptr_[slot];
    if (capturing) throw ScratchGrowth{slot, bytes};
    grow_scratch(slot, bytes);
    return scratch_ptr_[slot];
}

void Context::grow_scratch(ScratchSlot slot, size_t bytes) {
    if (scratch_bytes_[slot] >= bytes) return;
    if (scratch_ptr_[slot]) CV_CUDA(cudaFreeAsync(scratch_ptr_[slot], stream));
    scratch_ptr_[slot] = nullptr;
    scratch_bytes_[slot] = 0;
    const size_t want = bytes + bytes / 4; // room to grow a little without reallocating
    CV_CUDA(cudaMallocAsync(&scratch_ptr_[slot], want, stream));
    if (slot == kScratchCounters) CV_CUDA(cudaMemsetAsync(scratch_ptr_[slot], 0, want, stream));
    scratch_bytes_[slot] = want;
    ++scratch_epoch;
}

void Context::release_scratch() {
    for (int i = 0; i < kScratchCount; ++i) {
        if (scratch_ptr_[i]) cudaFreeAsync(scratch_ptr_[i], stream);
        scratch_ptr_[i] = nullptr;
        scratch_bytes_[i] = 0;
    }
}

namespace {

constexpr size_t kStagingBytes = size_t(32) << 20;    // per pinned staging buffer (two of them)
constexpr size_t kCublasWorkspace = size_t(32) << 20; // cuBLAS's workspace

class CudaBackend final : public Backend {
public:
    explicit CudaBackend(int device) {
        const std::string why = device_problem(device);
        if (!why.empty()) fail(Status::unsupported, "CUDA: %s", why.c_str());
        ctx_.device = device;
        CV_CUDA(cudaSetDevice(device));
        cudaDeviceProp p{};
        CV_CUDA(cudaGetDeviceProperties(&p, device));
        ctx_.sm_count = p.multiProcessorCount;
        const char *pdl = std::getenv("CORVID_CUDA_PDL");
        ctx_.pdl = p.major >= 9 && !(pdl && std::strcmp(pdl, "0") == 0);
        name_ = strfmt("CUDA%d", device);
        CV_CUDA(cudaStreamCreateWithFlags(&ctx_.stream, cudaStreamNonBlocking));
        CV_CUBLAS(cublasCreate(&ctx_.cublas));
        CV_CUBLAS(cublasSetStream(ctx_.cublas, ctx_.stream));
        CV_CUBLAS(cublasSetMathMode(ctx_.cublas, CUBLAS_DEFAULT_MATH));
        // A workspace of our own, so cuBLAS never allocates while a graph is being captured.
        CV_CUDA(cudaMalloc(&cublas_workspace_, kCublasWorkspace));
        CV_CUBLAS(cublasSetWorkspace(ctx_.cublas, cublas_workspace_, kCublasWorkspace));
        const char *g = std::getenv("CORVID_CUDA_GRAPHS");
        use_graphs_ = !(g && std::strcmp(g, "0") == 0);
        if (const char *tr = std::getenv("CORVID_CUDA_TRACE"); tr && *tr) {
            trace_ = std::make_unique<StepTrace>(tr);
            use_graphs_ = false; // a captured step has no host side to compare with
        }
        const char *mv = std::getenv("CORVID_CUDA_MATVEC");
        ctx_.matvec_old = mv && std::strcmp(mv, "old") == 0;
        const char *fl = std::getenv("CORVID_CUDA_FLASH");
        ctx_.flash_prompt = !(fl && std::strcmp(fl, "0") == 0);
        const char *pl = std::getenv("CORVID_CUDA_PLANAR");
        planar_ = !ctx_.matvec_old && !(pl && std::strcmp(pl, "0") == 0);
        const char *f = std::getenv("CORVID_CUDA_FUSE");
        fuse_ = !(f && std::strcmp(f, "0") == 0);
        if (const char *off = std::getenv("CORVID_CUDA_FUSE_OFF")) {
            const std::string o = off;
            const std::pair<const char *, Context::FuseBit> names[] = {
                {"attn", Context::kFuseAttnMerge},       {"rope", Context::kFuseRopeStore},
                {"convert", Context::kFuseNormConvert},  {"residual", Context::kFuseGemmResidual},
                {"hparts", Context::kFuseHParts}};
            for (const auto &[name, bit] : names)
                if (o == "all" || o.find(name) != std::string::npos) ctx_.fuse_off |= bit;
        }
        if (!fuse_) ctx_.fuse_off = ~0u;
        // CORVID_CUDA_HPARTS=0|1 forces the one-column F16/BF16 parts path off or on;
        // CORVID_CUDA_FUSE_OFF=hparts (or FUSE=0) turns it off with the other fusions.
        const char *hp = std::getenv("CORVID_CUDA_HPARTS");
        ctx_.h_parts = hp ? std::strcmp(hp, "1") == 0 : kHPartsByDefault;
        if (!ctx_.fuses(Context::kFuseHParts)) ctx_.h_parts = false;
        CV_CUDA(cudaMalloc(&ctx_.error_flag, sizeof(int)));
        CV_CUDA(cudaMemsetAsync(ctx_.error_flag, 0, sizeof(int), ctx_.stream));
        CV_CUDA(cudaHostAlloc(&flag_host_, sizeof(int), cudaHostAllocDefault));
    }

    ~CudaBackend() override {
        // Nothing here may throw: errors are ignored while tearing down.
        cudaSetDevice(ctx_.device);
        if (ctx_.stream) cudaStreamSynchronize(ctx_.stream);
        ctx_.release_scratch();
        if (ctx_.stream) cudaStreamSynchronize(ctx_.stream);
        for (int i = 0; i < 2; ++i) {
            if (staging_[i]) cudaFreeHost(staging_[i]);
            if (staged_[i]) cudaEventDestroy(staged_[i]);
        }
        if (flag_host_) cudaFreeHost(flag_host_);
        if (ctx_.error_flag) cudaFree(ctx_.error_flag);
        if (exec_) cudaGraphExecDestroy(exec_);
        if (ctx_.cublas) cublasDestroy(ctx_.cublas);
        if (cublas_workspace_) cudaFree(cublas_workspace_);
        if (ctx_.stream) cudaStreamDestroy(ctx_.stream);
        cudaGetLastError();
    }

    const char *name() const override { return name_.c_str(); }
    bool uses_host_memory() const override { return false; }

    bool supports(const Tensor &node) const override {
        auto rows_f32 = [](const Tensor *t) { return t && t->type == DType::F32 && t->nb[0] == sizeof(float); };
        switch (node.op) {
        case Op::get_rows: {
            const Tensor &t = *node.src[0];
            return weight_type_supported(t.type) && t.nb[0] == traits(t.type).block_bytes;
        }
        case Op::mul_mat: {
            const Tensor &w = *node.src[0];
            return weight_type_supported(w.type) && w.nb[0] == traits(w.type).block_bytes && rows_f32(node.src[1]);
        }
        case Op::set_rows:
            return store_type_supported(node.type) && node.ne[0] % traits(node.type).block_size == 0 &&
                   rows_f32(node.src[1]);
        case Op::attention: {
            const Tensor &q = *node.src[0], &k = *node.src[1];
            return q.ne[0] <= 256 && rows_f32(&q) && (k.type == DType::F16 || k.type == DType::F32) &&
                   k.nb[0] == traits(k.type).block_bytes && node.src[2]->nb[0] == k.nb[0] && rows_f32(node.src[3]);
        }
        case Op::add:
        case Op::mul: return node.src[0]->type == DType::F32 && node.src[1]->type == DType::F32;
        case Op::swiglu:
        case Op::geglu: return node.src[0]->type == DType::F32 && node.src[1]->type == DType::F32;
        case Op::scale:
        case Op::silu:
        case Op::gelu:
        case Op::cpy: return node.src[0]->type == DType::F32;
        case Op::rms_norm:
        case Op::norm:
        case Op::rope: return rows_f32(node.src[0]);
        case Op::soft_max: return rows_f32(node.src[0]) && (!node.src[1] || rows_f32(node.src[1]));
        case Op::view: return true;
        default: return false;
        }
    }

    // ---- memory ------------------------------------------------------------------------

    void *alloc(size_t bytes) override {
        bind();
        void *p = nullptr;
        const cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
        if (e == cudaErrorMemoryAllocation) {
            cudaGetLastError();
            size_t free_b = 0, total_b = 0;
            cudaMemGetInfo(&free_b, &total_b);
            cudaGetLastError();
            fail(Status::out_of_memory, "%s: cannot allocate %.1f MiB of GPU memory (%.1f MiB free of %.1f MiB)",
                 name_.c_str(), bytes / 1048576.0, free_b / 1048576.0, total_b / 1048576.0);
        }
        CV_CUDA(e);
        return p;
    }

    void release(void *p) override {
        if (!p) return;
        bind();
        CV_CUDA(cudaStreamSynchronize(ctx_.stream));
        CV_CUDA(cudaFree(p));
    }

    void upload(void *dst, const void *src, size_t bytes) override {
        bind();
        ctx_.written(dst, bytes);
        ensure_staging();
        const auto *s = static_cast<const uint8_t *>(src);
        auto *d = static_cast<uint8_t *>(dst);
        while (bytes > 0) {
            const size_t n = bytes < kStagingBytes ? bytes : kStagingBytes;
            uint8_t *buf = claim_staging();
            std::memcpy(buf, s, n);
            CV_CUDA(cudaMemcpyAsync(d, buf, n, cudaMemcpyHostToDevice, ctx_.stream));
            release_staging();
            s += n;
            d += n;
            bytes -= n;
        }
    }

    // Quantized 2-D weights of the planar types are stored planar (cuda_planar.cuh): each
    // staging buffer's worth of whole rows is rearranged on the host as it is staged, and
    // each plane's part copied to its place.
    int32_t upload_weight(void *dst, const Tensor &w, const void *src) override {
        const size_t row_bytes = w.ne[1] > 0 ? w.row_bytes() : 0;
        if (!planar_ || !planar_type(w.type) || w.ne[2] != 1 || w.ne[3] != 1 || !w.is_contiguous() || row_bytes == 0 ||
            row_bytes > static_cast<size_t>(kPlanarMaxRowBytes))
            return Backend::upload_weight(dst, w, src);
        bind();
        ctx_.written(dst, w.n_bytes());
        ensure_staging();
        const PlanarFormat f = planar_format(w.type);
        const int64_t bpr = static_cast<int64_t>(row_bytes / traits(w.type).block_bytes), N = w.ne[1];
        const int64_t rows_per_chunk = static_cast<int64_t>(kStagingBytes / row_bytes);
        const auto *s = static_cast<const uint8_t *>(src);
        auto *d = static_cast<uint8_t *>(dst);
        for (int64_t r0 = 0; r0 < N; r0 += rows_per_chunk) {
            const int64_t rows = N - r0 < rows_per_chunk ? N - r0 : rows_per_chunk, blocks = rows * bpr;
            uint8_t *buf = claim_staging();
            uint8_t *out[kMaxPlanes] = {};
            for (int p = 0; p < f.n_planes; ++p) out[p] = buf + plane_offset(w.type, p, blocks);
            planar_pack(w.type, s + r0 * static_cast<int64_t>(row_bytes), blocks, out);
            for (int p = 0; p < f.n_planes; ++p)
                CV_CUDA(cudaMemcpyAsync(d + plane_offset(w.type, p, N * bpr) + r0 * bpr * f.bytes[p], out[p],
                                        static_cast<size_t>(blocks * f.bytes[p]), cudaMemcpyHostToDevice, ctx_.stream));
            release_staging();
        }
        return kLayoutPlanar;
    }

    void download(void *dst, const void *src, size_t bytes) override {
        bind();
        CV_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, ctx_.stream));
        wait_and_check();
    }

    void copy(void *dst, const void *src, size_t bytes) override {
        bind();
        ctx_.written(dst, bytes);
        CV_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx_.stream));
    }

    void fill(void *dst, int value, size_t bytes) override {
        bind();
        ctx_.written(dst, bytes);
        CV_CUDA(cudaMemsetAsync(dst, value, bytes, ctx_.stream));
    }

    void synchronize() override {
        bind();
        wait_and_check();
    }

    double measure_read_bandwidth(size_t bytes) override {
        bind();
        return cuda::measure_read_bandwidth(ctx_, bytes);
    }

    void memory_info(size_t *free_bytes, size_t *total_bytes) const override {
        *free_bytes = 0;
        *total_bytes = 0;
        int cur = -1;
        if (cudaGetDevice(&cur) != cudaSuccess || (cur != ctx_.device && cudaSetDevice(ctx_.device) != cudaSuccess) ||
            cudaMemGetInfo(free_bytes, total_bytes) != cudaSuccess) {
            cudaGetLastError();
            *free_bytes = *total_bytes = 0;
        }
    }

    // ---- compute -----------------------------------------------------------------------

    void compute(const std::vector<Tensor *> &nodes) override {
        bind();
        if (use_graphs_ && decode_sized(nodes)) {
            compute_captured(nodes);
            return;
        }
        run_all(nodes);
    }

private:
    void run_all(const std::vector<Tensor *> &nodes) {
        ctx_.forget_derived(); // another graph: its memory may have been reused
        if (trace_) trace_->begin(ctx_.stream);
        for (size_t i = 0; i < nodes.size();) {
            if (trace_ && nodes[i]->op != Op::view) trace_->mark(ctx_.stream, op_name(nodes[i]->op));
            if (const size_t n = fuse_ ? run_fused(ctx_, nodes, i) : 0) {
                if (trace_) trace_->rename_last(strfmt("%s+%zu", op_name(nodes[i]->op), n - 1));
                i += n;
                continue;
            }
            Tensor &t = *nodes[i++];
            run(t);
            if (t.op != Op::view && t.data) ctx_.written(t.data, t.n_bytes());
        }
        if (trace_) trace_->end(ctx_.stream);
    }

    // Decode steps (every matrix product with at most a few columns) are captured into a
    // CUDA graph and launched as one: hundreds of small kernels cost one launch. Each step's
    // capture updates the executable graph of the previous one in place (the topology is the
    // same; sizes such as the cache length and the pointers may change), so the cost is the
    // capture, not an instantiation.
    static bool decode_sized(const std::vector<Tensor *> &nodes) {
        size_t work = 0;
        for (const Tensor *t : nodes) {
            if (t->op == Op::mul_mat && t->src[1]->ne[1] > 8) return false;
            if (t->op != Op::view) ++work;
        }
        return work >= 8;
    }

    // Everything a captured graph depends on besides the tensors' contents: ops, types,
    // shapes, strides, parameters, addresses, and where the scratch buffers are. It is
    // computed before every decode step, serially with the GPU, over ~850 nodes of a 7B
    // step: hashed a 64-bit word at a time (a byte at a time it cost ~0.4 ms per token).
    uint64_t signature(const std::vector<Tensor *> &nodes) const {
        // Four interleaved lanes, so that consecutive words do not wait for each other's multiply.
        uint64_t lane[4] = {0x9E3779B97F4A7C15ull ^ ctx_.scratch_epoch, 1, 2, 3};
        size_t n = 0;
        auto mix = [&lane, &n](uint64_t w) {
            uint64_t &h = lane[n++ & 3];
            h ^= w;
            h *= 0xff51afd7ed558ccdull;
            h ^= h >> 32;
        };
        auto mix_words = [&mix](const void *p, size_t bytes) { // bytes % 8 == 0
            const auto *b = static_cast<const uint8_t *>(p);
            for (size_t i = 0; i < bytes; i += 8) {
                uint64_t w;
                std::memcpy(&w, b + i, 8);
                mix(w);
            }
        };
        static_assert(sizeof(Tensor::ne) % 8 == 0 && sizeof(Tensor::nb) % 8 == 0 && sizeof(Tensor::ip) % 8 == 0 &&
                          sizeof(Tensor::fp) % 8 == 0,
                      "signature() hashes these arrays as 64-bit words");
        for (const Tensor *t : nodes) {
            const Tensor *ts[1 + kMaxSrc] = {t, t->src[0], t->src[1], t->src[2], t->src[3]};
            for (const Tensor *x : ts) {
                if (!x) {
                    mix(0);
                    continue;
                }
                mix(static_cast<uint64_t>(x->op) | static_cast<uint64_t>(x->type) << 8);
                mix_words(x->ne, sizeof x->ne);
                mix_words(x->nb, sizeof x->nb);
                mix(reinterpret_cast<uintptr_t>(x->data));
            }
            mix_words(t->ip, sizeof t->ip);
            mix_words(t->fp, sizeof t->fp);
        }
        uint64_t h = nodes.size();
        for (uint64_t x : lane) {
            h ^= x;
            h *= 0xc4ceb9fe1a85ec53ull;
            h ^= h >> 29;
        }
        return h;
    }

    void compute_captured(const std::vector<Tensor *> &nodes) {
        const uint64_t sig = signature(nodes);
        if (exec_ && sig == exec_signature_) { // the same step again: replay, no capture
            CV_CUDA(cudaGraphLaunch(exec_, ctx_.stream));
            return;
        }
        exec_signature_ = 0;
        CV_CUDA(cudaStreamBeginCapture(ctx_.stream, cudaStreamCaptureModeRelaxed));
        ctx_.capturing = true;
        cudaGraph_t graph = nullptr;
        try {
            run_all(nodes);
        } catch (const Context::ScratchGrowth &g) {
            // A scratch buffer must grow first: drop this capture, grow, run uncaptured.
            ctx_.capturing = false;
            cudaStreamEndCapture(ctx_.stream, &graph);
            if (graph) cudaGraphDestroy(graph);
            cudaGetLastError();
            ctx_.grow_scratch(g.slot, g.bytes);
            run_all(nodes);
            return;
        } catch (...) {
            ctx_.capturing = false;
            cudaStreamEndCapture(ctx_.stream, &graph);
            if (graph) cudaGraphDestroy(graph);
            cudaGetLastError();
            throw;
        }
        ctx_.capturing = false;
        CV_CUDA(cudaStreamEndCapture(ctx_.stream, &graph));
        if (exec_) {
            cudaGraphExecUpdateResultInfo info{};
            if (cudaGraphExecUpdate(exec_, graph, &info) != cudaSuccess) {
                cudaGetLastError();
                cudaGraphExecDestroy(exec_);
                exec_ = nullptr;
            }
        }
        if (!exec_) {
            const cudaError_t e = cudaGraphInstantiate(&exec_, graph, 0);
            if (e != cudaSuccess) {
                cudaGraphDestroy(graph);
                exec_ = nullptr;
                CV_CUDA(e);
            }
        }
        cudaGraphDestroy(graph);
        CV_CUDA(cudaGraphLaunch(exec_, ctx_.stream));
        exec_signature_ = signature(nodes); // after the capture: scratch may have moved
    }

    void bind() const {
        int cur = -1;
        CV_CUDA(cudaGetDevice(&cur));
        if (cur != ctx_.device) CV_CUDA(cudaSetDevice(ctx_.device));
    }

    // The next pinned staging buffer, once the copies queued from it last time are done;
    // release_staging() after queueing this time's copies from it.
    uint8_t *claim_staging() {
        CV_CUDA(cudaEventSynchronize(staged_[next_]));
        return static_cast<uint8_t *>(staging_[next_]);
    }
    void release_staging() {
        CV_CUDA(cudaEventRecord(staged_[next_], ctx_.stream));
        next_ ^= 1;
    }

    void ensure_staging() {
        if (staging_[0]) return;
        for (int i = 0; i < 2; ++i) {
            CV_CUDA(cudaHostAlloc(&staging_[i], kStagingBytes, cudaHostAllocDefault));
            CV_CUDA(cudaEventCreateWithFlags(&staged_[i], cudaEventDisableTiming));
        }
    }

    // Waits for the stream, then reports what kernels could only flag.
    void wait_and_check() {
        CV_CUDA(cudaMemcpyAsync(flag_host_, ctx_.error_flag, sizeof(int), cudaMemcpyDeviceToHost, ctx_.stream));
        CV_CUDA(cudaStreamSynchronize(ctx_.stream));
        if (*flag_host_ != 0) {
            const int flags = *flag_host_;
            *flag_host_ = 0;
            CV_CUDA(cudaMemsetAsync(ctx_.error_flag, 0, sizeof(int), ctx_.stream));
            if (flags & kErrRowId)
                fail(Status::invalid_argument,
                     "%s: a token id or cache row id was out of range (that row was skipped or zeroed)", name_.c_str());
        }
    }

    void run(Tensor &t) {
        switch (t.op) {
        case Op::get_rows: get_rows(ctx_, t); break;
        case Op::mul_mat: mul_mat(ctx_, t); break;
        case Op::add:
        case Op::mul: binary(ctx_, t); break;
        case Op::scale: scale(ctx_, t); break;
        case Op::rms_norm: rms_norm(ctx_, t); break;
        case Op::norm: norm(ctx_, t); break;
        case Op::rope: rope(ctx_, t); break;
        case Op::soft_max: soft_max(ctx_, t); break;
        case Op::attention: attention(ctx_, t); break;
        case Op::silu:
        case Op::gelu: unary(ctx_, t); break;
        case Op::swiglu:
        case Op::geglu: glu(ctx_, t); break;
        case Op::cpy: cpy(ctx_, t); break;
        case Op::set_rows: set_rows(ctx_, t); break;
        case Op::view: break;
        default: fail(Status::internal, "%s: cannot run op %s ('%s')", name_.c_str(), op_name(t.op), t.name.c_str());
        }
    }

    Context ctx_;
    std::string name_;
    void *staging_[2] = {nullptr, nullptr};
    cudaEvent_t staged_[2] = {nullptr, nullptr};
    int next_ = 0;
    int *flag_host_ = nullptr;
    cudaGraphExec_t exec_ = nullptr;
    uint64_t exec_signature_ = 0;
    bool use_graphs_ = true;
    bool fuse_ = true; // CORVID_CUDA_FUSE=0: every node alone (A/B timing, bisecting)
    bool planar_ = true; // CORVID_CUDA_PLANAR=0: weights kept in ggml's layout (A/B timing)
    void *cublas_workspace_ = nullptr;
    std::unique_ptr<StepTrace> trace_; // CORVID_CUDA_TRACE=FILE (cuda_trace.h)
};

} // namespace
} // namespace cuda

std::unique_ptr<Backend> make_cuda_backend(int device) { return std::make_unique<cuda::CudaBackend>(device); }

} // namespace corvid
