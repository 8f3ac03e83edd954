// The C ABI's exception boundary: every exported function that can fail runs its body
// through guarded(), which turns any exception into a status and a per-thread message.
#pragma once

#include "corvid.h"
#include "util/error.h"

#include <new>
#include <string>

namespace corvid::api {

void set_last_error(const std::string &message);
const char *last_error();

// Records the failure as the thread's last error and returns `status`.
corvid_status failure(corvid_status status, const std::string &message);

template <typename F> corvid_status guarded(F &&body) noexcept {
    try {
        body();
        return CORVID_OK;
    } catch (const Error &e) {
        return failure(static_cast<corvid_status>(e.status()), e.message());
    } catch (const std::bad_alloc &) {
        return failure(CORVID_ERR_OUT_OF_MEMORY, "out of memory");
    } catch (const std::exception &e) {
        return failure(CORVID_ERR_INTERNAL, std::string("internal error: ") + e.what());
    } catch (...) {
        return failure(CORVID_ERR_INTERNAL, "internal error: unknown exception");
    }
}

} // namespace corvid::api
