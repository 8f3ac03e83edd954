// The bulk matvec's stage plans (cuda/cuda_bulk_plan.h) for the decode products of the model
// shapes we bench: host code, so the GPU-less CI checks the rules the kernel's barriers and
// copies rely on (a ring of a multiple of 8 jobs, 16-byte runs, the shared-memory budget).
#ifdef CORVID_HAS_CUDA

#include "cuda/cuda_bulk_plan.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

using namespace corvid;
using namespace corvid::cuda;

TEST_CASE("cuda bulk plan: every plan keeps the ring rules, or declines") {
    alignas(256) static uint8_t base[256];
    for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
        for (int64_t K : {2048, 2816, 4096, 5120, 6144, 11008, 14336, 18944}) {
            for (int R : {1, 2}) {
                const std::string name = dtype_name(t);
                CAPTURE(name);
                CAPTURE(K);
                CAPTURE(R);
                const uint8_t *W[2] = {base, base};
                const int N[2] = {4096, 4096};
                const BulkPlan p = bulk_plan(t, K, R, W, N, 2);
                if (p.stages == 0) continue;
                CHECK(p.stages >= 2);
                CHECK(p.stages <= kBulkMaxStages);
                CHECK(p.stages * p.jps % kBulkComputeWarps == 0);
                CHECK(static_cast<size_t>(p.stages) * p.jps * R * p.row_bytes <= kBulkRingBytes);
                int sum = 0;
                for (int pl = 0; pl < kBulkPlanes; ++pl) {
                    CHECK(p.plane_bytes[pl] % 16 == 0);
                    CHECK(p.plane_at[pl] == (p.plane_bytes[pl] ? sum : p.plane_at[pl]));
                    sum += p.plane_bytes[pl];
                }
                CHECK(sum == p.row_bytes);
                // Planar rows hold the same bytes as ggml's blocks.
                CHECK(p.row_bytes == K / traits(t).block_size * traits(t).block_bytes);
            }
        }
    }
}

TEST_CASE("cuda bulk plan: the 7B products it takes and the ones it leaves to the stream kernel") {
    alignas(256) static uint8_t base[256];
    const uint8_t *W[3] = {base, base, base};
    const int N[3] = {4096, 4096, 4096};
    // Q4_0 q/k/v: 2304-byte rows, 4 a stage, 8 stages.
    BulkPlan p = bulk_plan(DType::Q4_0, 4096, 1, W, N, 3);
    CHECK(p.jps == 4);
    CHECK(p.stages == 8);
    // Q8_0 down at K = 11008: 11696-byte rows, one a stage, a ring of 8 (93.6 KB).
    p = bulk_plan(DType::Q8_0, 11008, 1, W, N, 1);
    CHECK(p.jps == 1);
    CHECK(p.stages == 8);
    // Q6_K at K = 11008: 43 super-blocks, 86 bytes of scales a row: declined.
    CHECK(bulk_plan(DType::Q6_K, 11008, 1, W, N, 1).stages == 0);
    // Llama-3-8B's down product at Q8_0 (K = 14336): 8 rows would not fit the ring: declined.
    CHECK(bulk_plan(DType::Q8_0, 14336, 1, W, N, 1).stages == 0);
    // A matrix that does not start on 16 bytes, or a type that is not planar: declined.
    const uint8_t *odd[1] = {base + 2};
    CHECK(bulk_plan(DType::Q4_0, 4096, 1, odd, N, 1).stages == 0);
    CHECK(bulk_plan(DType::F16, 4096, 1, W, N, 1).stages == 0);
}

#endif // CORVID_HAS_CUDA
