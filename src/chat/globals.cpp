// Global functions available to templates: range, namespace, dict (jinja2's defaults, with the
// sandbox's range limit) and Hugging Face's raise_exception and strftime_now.
#include "chat/globals.h"

#include <ctime>

#include "chat/template_error.h"

namespace corvid::chat {
namespace {

constexpr int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE

int64_t int_arg(const CallArgs &a, size_t k) {
    const Value &v = a.pos[k];
    if (v.kind != Kind::integer && v.kind != Kind::boolean)
        template_fail(Status::format, a.line, "range(): '%s' object cannot be interpreted as an integer", type_name(v));
    return v.as_int();
}

Value range_fn(CallArgs &a) {
    if (!a.kw.empty() || a.pos.empty() || a.pos.size() > 3)
        template_fail(Status::format, a.line, "range() takes 1 to 3 positional arguments");
    int64_t start = 0, stop, step = 1;
    if (a.pos.size() == 1) stop = int_arg(a, 0);
    else {
        start = int_arg(a, 0);
        stop = int_arg(a, 1);
        if (a.pos.size() == 3) step = int_arg(a, 2);
    }
    if (step == 0) template_fail(Status::format, a.line, "range() arg 3 must not be zero");
    int64_t n = 0;
    if (step > 0 && start < stop) n = (stop - start + step - 1) / step;
    if (step < 0 && start > stop) n = (start - stop - step - 1) / -step;
    if (n > kMaxRange)
        template_fail(Status::unsupported, a.line, "range too big: the sandbox blocks ranges larger than %lld items",
                      (long long)kMaxRange);
    List out;
    for (int64_t k = 0; k < n; ++k) out.push_back(Value::integer(start + k * step));
    return Value::make_list(std::move(out));
}

Dict dict_from_args(CallArgs &a, const char *fn) {
    Dict d;
    if (a.pos.size() > 1) template_fail(Status::format, a.line, "%s expected at most 1 positional argument", fn);
    if (!a.pos.empty()) {
        const Value &src = a.pos[0];
        if (src.kind == Kind::dict || src.kind == Kind::ns) d = *src.dict;
        else template_fail(Status::unsupported, a.line, "%s(): unsupported positional argument of type %s", fn, type_name(src));
    }
    for (auto &kv : a.kw) d.set(kv.first, kv.second);
    return d;
}

}  // namespace

std::tm fixed_time(int year, int month, int day, int hour, int minute, int second) {
    std::tm t{};
    t.tm_year = year - 1900;
    t.tm_mon = month - 1;
    t.tm_mday = day;
    t.tm_hour = hour;
    t.tm_min = minute;
    t.tm_sec = second;
    const time_t when = timegm(&t);
    std::tm out{};
    gmtime_r(&when, &out);
    return out;
}

Dict make_globals(const RenderOptions &opt) {
    Dict g;
    g.set("range", Value::callable("range", range_fn));
    g.set("namespace", Value::callable("namespace", [](CallArgs &a) {
        return Value::make_namespace(dict_from_args(a, "namespace"));
    }));
    g.set("dict", Value::callable("dict", [](CallArgs &a) { return Value::make_dict(dict_from_args(a, "dict")); }));
    g.set("raise_exception", Value::callable("raise_exception", [](CallArgs &a) -> Value {
        const Value *m = a.get(0, "message");
        template_fail(Status::invalid_argument, a.line, "raise_exception: %s", m ? to_str(*m).c_str() : "");
    }));
    auto clock = opt.now;
    g.set("strftime_now", Value::callable("strftime_now", [clock](CallArgs &a) {
        const Value *f = a.get(0, "format");
        if (!f || !f->is_string()) template_fail(Status::format, a.line, "strftime_now() needs a format string");
        std::tm t{};
        if (clock) {
            t = clock();
        } else {
            const time_t now = std::time(nullptr);
            localtime_r(&now, &t);
        }
        if (f->str().empty()) return Value::string("");
        std::string buf(256, '\0');
        for (int tries = 0; tries < 8; ++tries) {
            const size_t n = std::strftime(&buf[0], buf.size(), f->str().c_str(), &t);
            if (n > 0) return Value::string(buf.substr(0, n));
            buf.resize(buf.size() * 4);
        }
        return Value::string("");
    }));
    return g;
}

}  // namespace corvid::chat
