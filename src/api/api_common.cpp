// Version, status and logging functions of the C API.
#include "api/api_guard.h"
#include "cpu/cpu_dispatch.h"
#include "tensor/dtype.h"
#include "util/log.h"

namespace corvid::api {

static_assert(CORVID_ERR_INVALID_ARGUMENT == static_cast<int>(Status::invalid_argument));
static_assert(CORVID_ERR_IO == static_cast<int>(Status::io));
static_assert(CORVID_ERR_FORMAT == static_cast<int>(Status::format));
static_assert(CORVID_ERR_UNSUPPORTED == static_cast<int>(Status::unsupported));
static_assert(CORVID_ERR_NOT_FOUND == static_cast<int>(Status::not_found));
static_assert(CORVID_ERR_TYPE_MISMATCH == static_cast<int>(Status::type_mismatch));
static_assert(CORVID_ERR_OUT_OF_MEMORY == static_cast<int>(Status::out_of_memory));
static_assert(CORVID_ERR_BUFFER_TOO_SMALL == static_cast<int>(Status::buffer_too_small));
static_assert(CORVID_ERR_INTERNAL == static_cast<int>(Status::internal));
static_assert(CORVID_LOG_WARN == static_cast<int>(LogLevel::warn));

namespace {
thread_local std::string t_last_error;
}

const char *last_error() { return t_last_error.c_str(); }

void set_last_error(const std::string &message) {
    try {
        t_last_error = message;
    } catch (...) {
        t_last_error.clear(); // out of memory while reporting: keep going with no message
    }
}

corvid_status failure(corvid_status status, const std::string &message) {
    set_last_error(message);
    log(LogLevel::debug, "%s: %s", corvid_status_name(status), message.c_str());
    return status;
}

} // namespace corvid::api

using namespace corvid;

extern "C" {

const char *corvid_version(void) { return CORVID_VERSION_STRING; }

int corvid_version_number(void) { return CORVID_VERSION_NUMBER; }

const char *corvid_cpu_kernels(void) { return cpu::isa_name(cpu::active_isa()); }

const char *corvid_status_name(corvid_status status) {
    switch (status) {
    case CORVID_OK: return "CORVID_OK";
    case CORVID_ERR_INVALID_ARGUMENT: return "CORVID_ERR_INVALID_ARGUMENT";
    case CORVID_ERR_IO: return "CORVID_ERR_IO";
    case CORVID_ERR_FORMAT: return "CORVID_ERR_FORMAT";
    case CORVID_ERR_UNSUPPORTED: return "CORVID_ERR_UNSUPPORTED";
    case CORVID_ERR_NOT_FOUND: return "CORVID_ERR_NOT_FOUND";
    case CORVID_ERR_TYPE_MISMATCH: return "CORVID_ERR_TYPE_MISMATCH";
    case CORVID_ERR_OUT_OF_MEMORY: return "CORVID_ERR_OUT_OF_MEMORY";
    case CORVID_ERR_BUFFER_TOO_SMALL: return "CORVID_ERR_BUFFER_TOO_SMALL";
    case CORVID_ERR_INTERNAL: return "CORVID_ERR_INTERNAL";
    }
    return "CORVID_ERR_UNKNOWN";
}

const char *corvid_last_error(void) { return api::last_error(); }

void corvid_set_log_callback(corvid_log_callback callback, void *user_data) {
    set_log_callback(callback, user_data);
}

const char *corvid_type_name(uint32_t type) {
    const auto t = dtype_traits(type);
    return t ? t->name : nullptr;
}

bool corvid_type_is_supported(uint32_t type) {
    const auto t = dtype_traits(type);
    return t && t->has_reference;
}

} // extern "C"
