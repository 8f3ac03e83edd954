#include "chat/operators.h"

#include <cmath>

#include "chat/builtins.h"
#include "chat/pystr.h"
#include "chat/template_error.h"

namespace corvid::chat {
namespace {

[[noreturn]] void unsupported_operands(const std::string &op, const Value &a, const Value &b, int line) {
    if (a.is_undefined()) undefined_error(a, line);
    if (b.is_undefined()) undefined_error(b, line);
    if (op == "+" && a.is_string())
        template_fail(Status::format, line, "can only concatenate str (not \"%s\") to str", type_name(b));
    template_fail(Status::format, line, "unsupported operand type(s) for %s: '%s' and '%s'", op.c_str(), type_name(a),
                  type_name(b));
}

int64_t checked(bool overflow, int64_t v, int line) {
    if (overflow) template_fail(Status::unsupported, line, "integer result too large");
    return v;
}

int64_t floordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

int64_t pymod(int64_t a, int64_t b) {
    int64_t r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}

Value repeat(const Value &seq, int64_t n, int line, size_t max_len) {
    if (n <= 0) return seq.is_string() ? Value::string("") : Value::make_list({}, seq.tuple);
    const size_t unit = seq.is_string() ? seq.str().size() : seq.list->size();
    if (unit && uint64_t(n) > max_len / unit) template_fail(Status::unsupported, line, "repetition result too large");
    if (seq.is_string()) {
        std::string out;
        out.reserve(unit * size_t(n));
        for (int64_t k = 0; k < n; ++k) out += seq.str();
        return Value::string(std::move(out));
    }
    List out;
    for (int64_t k = 0; k < n; ++k) out.insert(out.end(), seq.list->begin(), seq.list->end());
    return Value::make_list(std::move(out), seq.tuple);
}

}  // namespace

Value binary_op(const std::string &op, const Value &a, const Value &b, int line, size_t max_len) {
    if (op == "~") return Value::string(to_str(a) + to_str(b));
    const bool nums = a.is_number() && b.is_number();
    const bool ints = nums && a.kind != Kind::floating && b.kind != Kind::floating;
    if (op == "+") {
        if (ints) {
            int64_t r = 0;
            const bool ovf = __builtin_add_overflow(a.as_int(), b.as_int(), &r);
            return Value::integer(checked(ovf, r, line));
        }
        if (nums) return Value::floating(a.as_double() + b.as_double());
        if (a.is_string() && b.is_string()) {
            if (a.str().size() + b.str().size() > max_len) template_fail(Status::unsupported, line, "string too large");
            return Value::string(a.str() + b.str());
        }
        if (a.kind == Kind::list && b.kind == Kind::list && a.tuple == b.tuple) {
            List out = *a.list;
            out.insert(out.end(), b.list->begin(), b.list->end());
            return Value::make_list(std::move(out), a.tuple);
        }
        unsupported_operands(op, a, b, line);
    }
    if (op == "-") {
        if (ints) {
            int64_t r = 0;
            const bool ovf = __builtin_sub_overflow(a.as_int(), b.as_int(), &r);
            return Value::integer(checked(ovf, r, line));
        }
        if (nums) return Value::floating(a.as_double() - b.as_double());
        unsupported_operands(op, a, b, line);
    }
    if (op == "*") {
        if (ints) {
            int64_t r = 0;
            const bool ovf = __builtin_mul_overflow(a.as_int(), b.as_int(), &r);
            return Value::integer(checked(ovf, r, line));
        }
        if (nums) return Value::floating(a.as_double() * b.as_double());
        const bool a_int = a.kind == Kind::integer || a.kind == Kind::boolean;
        const bool b_int = b.kind == Kind::integer || b.kind == Kind::boolean;
        if ((a.is_string() || a.kind == Kind::list) && b_int) return repeat(a, b.as_int(), line, max_len);
        if ((b.is_string() || b.kind == Kind::list) && a_int) return repeat(b, a.as_int(), line, max_len);
        unsupported_operands(op, a, b, line);
    }
    if (op == "/") {
        if (!nums) unsupported_operands(op, a, b, line);
        if (b.as_double() == 0) template_fail(Status::format, line, "division by zero");
        return Value::floating(a.as_double() / b.as_double());
    }
    if (op == "//" || op == "%") {
        if (a.is_string() && op == "%")
            template_fail(Status::unsupported, line, "unsupported printf-style string formatting ('%%' on a string)");
        if (!nums) unsupported_operands(op, a, b, line);
        if (b.as_double() == 0)
            template_fail(Status::format, line, op == "%" ? "modulo by zero" : "integer division or modulo by zero");
        if (ints) {
            if (a.as_int() == INT64_MIN && b.as_int() == -1) template_fail(Status::unsupported, line, "integer result too large");
            return Value::integer(op == "//" ? floordiv(a.as_int(), b.as_int()) : pymod(a.as_int(), b.as_int()));
        }
        // CPython's float_divmod.
        const double x = a.as_double(), y = b.as_double();
        double mod = std::fmod(x, y);
        double div = (x - mod) / y;
        if (mod != 0) {
            if ((y < 0) != (mod < 0)) { mod += y; div -= 1.0; }
        } else {
            mod = std::copysign(0.0, y);
        }
        if (op == "%") return Value::floating(mod);
        double fl;
        if (div != 0) {
            fl = std::floor(div);
            if (div - fl > 0.5) fl += 1.0;
        } else {
            fl = std::copysign(0.0, x / y);
        }
        return Value::floating(fl);
    }
    if (op == "**") {
        if (!nums) unsupported_operands(op, a, b, line);
        if (ints && b.as_int() >= 0) {
            int64_t base = a.as_int(), e = b.as_int(), r = 1;
            while (e > 0) {
                if ((e & 1) && __builtin_mul_overflow(r, base, &r)) checked(true, 0, line);
                e >>= 1;
                if (e > 0 && __builtin_mul_overflow(base, base, &base)) checked(true, 0, line);
            }
            return Value::integer(r);
        }
        if (a.as_double() == 0 && b.as_double() < 0)
            template_fail(Status::format, line, "0.0 cannot be raised to a negative power");
        return Value::floating(std::pow(a.as_double(), b.as_double()));
    }
    template_fail(Status::internal, line, "unknown operator '%s'", op.c_str());
}

Value negate(const Value &v, bool minus, int line) {
    if (v.is_undefined()) undefined_error(v, line);
    if (v.kind == Kind::floating) return Value::floating(minus ? -v.f : v.f);
    if (v.kind == Kind::integer || v.kind == Kind::boolean) {
        if (!minus) return Value::integer(v.as_int());
        if (v.as_int() == INT64_MIN) template_fail(Status::unsupported, line, "integer result too large");
        return Value::integer(-v.as_int());
    }
    template_fail(Status::format, line, "bad operand type for unary %s: '%s'", minus ? "-" : "+", type_name(v));
}

bool compare_op(const std::string &op, const Value &a, const Value &b, int line) {
    if (op == "==") return equals(a, b);
    if (op == "!=") return !equals(a, b);
    if (op == "<") return less_than(a, b, line);
    if (op == ">") return less_than(b, a, line);
    if (op == "<=") return !less_than(b, a, line);
    if (op == ">=") return !less_than(a, b, line);
    const bool want = op == "in";
    bool found = false;
    if (b.is_string()) {
        if (!a.is_string())
            template_fail(Status::format, line, "'in <string>' requires string as left operand, not %s", type_name(a));
        found = b.str().find(a.str()) != std::string::npos;
    } else if (b.kind == Kind::dict) {
        found = a.is_string() && b.dict->find(a.str()) != nullptr;
    } else if (b.kind == Kind::list || b.is_undefined()) {
        if (b.kind == Kind::list)
            for (const auto &e : *b.list)
                if (equals(e, a)) { found = true; break; }
    } else {
        template_fail(Status::format, line, "argument of type '%s' is not iterable", type_name(b));
    }
    return found == want;
}

Value slice_value(const Value &obj, const Value &start, const Value &stop, const Value &step, int line) {
    if (obj.is_undefined()) undefined_error(obj, line);
    auto idx = [&](const Value &v, int64_t *out) -> const int64_t * {
        if (v.is_undefined() || v.is_none()) return nullptr;
        if (v.kind != Kind::integer && v.kind != Kind::boolean)
            template_fail(Status::format, line, "slice indices must be integers or None");
        *out = v.as_int();
        return out;
    };
    int64_t s0, s1, s2 = 1;
    const int64_t *ps = idx(start, &s0), *pe = idx(stop, &s1);
    if (idx(step, &s2) && s2 == 0) template_fail(Status::format, line, "slice step cannot be zero");
    if (obj.is_string()) {
        const auto cps = pystr::decode(obj.str());
        std::vector<uint32_t> out;
        for (int64_t k : pystr::slice_indices(int64_t(cps.size()), ps, pe, s2)) out.push_back(cps[size_t(k)]);
        return Value::string(pystr::encode(out));
    }
    if (obj.kind == Kind::list) {
        List out;
        for (int64_t k : pystr::slice_indices(int64_t(obj.list->size()), ps, pe, s2)) out.push_back((*obj.list)[size_t(k)]);
        return Value::make_list(std::move(out), obj.tuple);
    }
    // jinja2 turns the failed subscript into an undefined value.
    return Value::undefined(std::string("'") + type_name(obj) + " object' is not subscriptable");
}

}  // namespace corvid::chat
