#include "chat/renderer.h"

#include "chat/builtins.h"
#include "chat/globals.h"
#include "chat/operators.h"
#include "chat/template_error.h"

namespace corvid::chat {
namespace {

struct Frame {
    std::vector<std::pair<std::string, Value>> vars;
    const Frame *parent = nullptr;

    mutable std::shared_ptr<bool> alive;  // made when a macro captures this scope

    explicit Frame(const Frame *p) : parent(p) {}
    ~Frame() {
        if (alive) *alive = false;
    }
    Frame(const Frame &) = delete;
    Frame &operator=(const Frame &) = delete;
    std::shared_ptr<bool> liveness() const {
        if (!alive) alive = std::make_shared<bool>(true);
        return alive;
    }
    const Value *lookup(const std::string &name) const {
        for (const Frame *f = this; f; f = f->parent)
            for (auto it = f->vars.rbegin(); it != f->vars.rend(); ++it)
                if (it->first == name) return &it->second;
        return nullptr;
    }
    void set(const std::string &name, Value v) {
        for (auto &kv : vars)
            if (kv.first == name) { kv.second = std::move(v); return; }
        vars.emplace_back(name, std::move(v));
    }
};

enum class Flow { normal, brk, cont };

class Renderer {
public:
    explicit Renderer(const RenderOptions &opt) : opt_(opt) {}

    std::string run(const Body &body, Frame &top) {
        top_ = &top;
        std::string out;
        out_ = &out;
        exec_body(body, top);
        return out;
    }

private:
    const RenderOptions &opt_;
    const Frame *top_ = nullptr;  // the template's top-level scope
    std::string *out_ = nullptr;
    int depth_ = 0;
    uint64_t steps_ = 0;
    const Value *block_input_ = nullptr;

    void step(int line) {
        if (++steps_ > opt_.max_steps)
            template_fail(Status::unsupported, line, "template exceeded the limit of %llu steps", (unsigned long long)opt_.max_steps);
    }

    void emit(const std::string &s, int line) {
        if (out_->size() + s.size() > opt_.max_output_bytes)
            template_fail(Status::unsupported, line, "rendered output exceeds the limit of %zu bytes", opt_.max_output_bytes);
        out_->append(s);
    }

    // Runs `body` into a fresh buffer and returns what it wrote.
    std::string capture(const Body &body, Frame &f) {
        std::string buf;
        std::string *saved = out_;
        out_ = &buf;
        try {
            exec_body(body, f);
        } catch (...) {
            out_ = saved;
            throw;
        }
        out_ = saved;
        return buf;
    }

    Flow exec_body(const Body &body, Frame &f) {
        for (const auto &n : body) {
            const Flow fl = exec(*n, f);
            if (fl != Flow::normal) return fl;
        }
        return Flow::normal;
    }

    void bind_targets(Frame &f, const std::vector<std::string> &names, const Value &v, int line) {
        if (names.size() == 1) {
            f.set(names[0], v);
            return;
        }
        List items;
        if (v.kind == Kind::list) items = *v.list;
        else if (v.is_string()) items = iterate(v, line);
        else template_fail(Status::format, line, "cannot unpack non-iterable %s object", type_name(v));
        if (items.size() != names.size())
            template_fail(Status::format, line, "%s values to unpack (expected %zu, got %zu)",
                          items.size() < names.size() ? "not enough" : "too many", names.size(), items.size());
        for (size_t k = 0; k < names.size(); ++k) f.set(names[k], items[k]);
    }

    Flow exec(const Node &n, Frame &f) {
        step(n.line);
        switch (n.kind) {
        case NK::text: emit(n.name, n.line); return Flow::normal;
        case NK::output: emit(to_str(eval(*n.kids[0], f)), n.line); return Flow::normal;
        case NK::if_:
            for (size_t k = 0; k < n.kids.size(); ++k)
                if (truthy(eval(*n.kids[k], f))) return exec_body(n.bodies[k], f);
            if (n.bodies.size() > n.kids.size()) return exec_body(n.bodies.back(), f);
            return Flow::normal;
        case NK::for_: exec_for(n, f); return Flow::normal;
        case NK::set: {
            Value v = eval(*n.kids[0], f);
            if (!n.attr.empty()) {
                const Value *ns = f.lookup(n.argnames[0]);
                if (!ns || ns->kind != Kind::ns)
                    template_fail(Status::format, n.line, "cannot assign attribute on non-namespace object '%s'", n.argnames[0].c_str());
                ns->dict->set(n.attr, std::move(v));
            } else {
                bind_targets(f, n.argnames, v, n.line);
            }
            return Flow::normal;
        }
        case NK::set_block: {
            Frame inner(&f);
            Value v = Value::string(capture(n.bodies[0], inner));
            if (n.kids[0]) v = apply_chain(*n.kids[0], v, f);
            f.set(n.argnames[0], std::move(v));
            return Flow::normal;
        }
        case NK::filter_block: {
            Frame inner(&f);
            const Value v = Value::string(capture(n.bodies[0], inner));
            emit(to_str(apply_chain(*n.kids[0], v, f)), n.line);
            return Flow::normal;
        }
        case NK::macro: f.set(n.name, make_macro(n, f)); return Flow::normal;
        case NK::call_block: exec_call_block(n, f); return Flow::normal;
        case NK::break_: return Flow::brk;
        case NK::continue_: return Flow::cont;
        default: template_fail(Status::internal, n.line, "unexpected node in statement position");
        }
    }

    Value apply_chain(const Node &chain, const Value &input, Frame &f) {
        const Value *saved = block_input_;
        block_input_ = &input;
        Value out = eval(chain, f);
        block_input_ = saved;
        return out;
    }

    void exec_for(const Node &n, Frame &f) {
        const Value seq = eval(*n.kids[0], f);
        List items = iterate(seq, n.line);
        if (n.kids[1]) {
            List kept;
            for (auto &it : items) {
                step(n.line);
                Frame tmp(&f);
                bind_targets(tmp, n.argnames, it, n.line);
                if (truthy(eval(*n.kids[1], tmp))) kept.push_back(std::move(it));
            }
            items = std::move(kept);
        }
        if (items.empty()) {
            if (n.bodies.size() > 1) {
                Frame inner(&f);
                exec_body(n.bodies[1], inner);
            }
            return;
        }
        auto state = std::make_shared<LoopState>();
        state->items = std::make_shared<const List>(std::move(items));
        std::weak_ptr<LoopState> weak = state;
        state->cycle = [weak](CallArgs &a) -> Value {
            auto s = weak.lock();
            if (!s || a.pos.empty()) template_fail(Status::format, a.line, "loop.cycle() needs at least one argument");
            return a.pos[s->index % a.pos.size()];
        };
        Value loopv;
        loopv.kind = Kind::loop;
        loopv.loop = state;
        for (size_t k = 0; k < state->items->size(); ++k) {
            step(n.line);
            state->index = k;
            Frame body(&f);
            body.set("loop", loopv);
            bind_targets(body, n.argnames, (*state->items)[k], n.line);
            if (exec_body(n.bodies[0], body) == Flow::brk) break;
        }
    }

    // A macro's scope hangs off the scope that defined it (jinja2 closures see later assignments
    // there too); if that scope has ended, off the template's top level.
    Value make_macro(const Node &m, const Frame &where) {
        const Node *def = &m;
        const Frame *scope = &where;
        std::shared_ptr<bool> alive = where.liveness();
        return Value::callable(m.name, [this, def, scope, alive](CallArgs &a) {
            return call_macro(*def, a, *alive ? scope : top_);
        });
    }

    Value call_macro(const Node &m, CallArgs &a, const Frame *scope) {
        if (depth_ >= opt_.max_call_depth)
            template_fail(Status::unsupported, a.line, "macro '%s': calls nested deeper than %d (runaway recursion?)",
                          m.name.c_str(), opt_.max_call_depth);
        const size_t np = m.argnames.size();
        if (a.pos.size() > np)
            template_fail(Status::format, a.line, "macro '%s' takes not more than %zu argument(s)", m.name.c_str(), np);
        Frame mf(scope);
        Value caller = Value::undefined("'caller' is undefined");
        for (const auto &kv : a.kw) {
            if (kv.first == "caller") { caller = kv.second; continue; }
            bool known = false;
            for (size_t k = 0; k < np; ++k) known |= m.argnames[k] == kv.first;
            if (!known)
                template_fail(Status::format, a.line, "macro '%s' takes no keyword argument '%s'", m.name.c_str(), kv.first.c_str());
        }
        ++depth_;
        struct Dec { int &d; ~Dec() { --d; } } dec{depth_};
        for (size_t k = 0; k < np; ++k) {
            const std::string &p = m.argnames[k];
            if (k < a.pos.size()) { mf.set(p, a.pos[k]); continue; }
            const Value *kw = nullptr;
            for (const auto &kv : a.kw)
                if (kv.first == p) kw = &kv.second;
            if (kw) mf.set(p, *kw);
            else if (m.kids[k]) mf.set(p, eval(*m.kids[k], mf));
            else mf.set(p, Value::undefined("parameter '" + p + "' was not provided"));
        }
        mf.set("caller", caller);
        return Value::string(capture(m.bodies[0], mf));
    }

    void exec_call_block(const Node &n, Frame &f) {
        const Node &call = *n.kids[0];
        auto alive = std::make_shared<bool>(true);
        const Node *def = &n;
        Frame *where = &f;
        Value caller = Value::callable("caller", [this, def, where, alive](CallArgs &a) -> Value {
            if (!*alive) template_fail(Status::format, a.line, "caller() used after its call block ended");
            if (depth_ >= opt_.max_call_depth) template_fail(Status::unsupported, a.line, "calls nested too deeply");
            Frame cf(where);
            const size_t np = def->argnames.size();
            if (a.pos.size() > np) template_fail(Status::format, a.line, "caller() takes not more than %zu argument(s)", np);
            for (size_t k = 0; k < np; ++k) {
                const Value *v = a.get(k, def->argnames[k].c_str());
                if (v) cf.set(def->argnames[k], *v);
                else if (def->kids[k + 1]) cf.set(def->argnames[k], eval(*def->kids[k + 1], cf));
                else cf.set(def->argnames[k], Value::undefined("parameter '" + def->argnames[k] + "' was not provided"));
            }
            ++depth_;
            struct Dec { int &d; ~Dec() { --d; } } dec{depth_};
            return Value::string(capture(def->bodies[0], cf));
        });
        const Value callee = eval(*call.kids[0], f);
        CallArgs args = eval_args(call, f, 1);
        args.kw.emplace_back("caller", caller);
        const Value r = invoke(callee, args, call.line);
        *alive = false;
        emit(to_str(r), n.line);
    }

    CallArgs eval_args(const Node &n, Frame &f, size_t first) {
        CallArgs a;
        a.line = n.line;
        for (size_t k = first; k < n.kids.size(); ++k) {
            const std::string &kw = n.argnames[k - first];
            Value v = eval(*n.kids[k], f);
            if (kw.empty()) a.pos.push_back(std::move(v));
            else a.kw.emplace_back(kw, std::move(v));
        }
        return a;
    }

    Value invoke(const Value &callee, CallArgs &args, int line) {
        if (callee.kind == Kind::callable) return callee.fn->fn(args);
        if (callee.is_undefined()) undefined_error(callee, line);
        template_fail(Status::format, line, "'%s' object is not callable", type_name(callee));
    }

    Value eval(const Node &n, Frame &f) {
        switch (n.kind) {
        case NK::literal: return n.value;
        case NK::name: {
            const Value *v = f.lookup(n.name);
            return v ? *v : Value::undefined("'" + n.name + "' is undefined");
        }
        case NK::list: case NK::tuple: {
            List items;
            for (const auto &k : n.kids) items.push_back(eval(*k, f));
            return Value::make_list(std::move(items), n.kind == NK::tuple);
        }
        case NK::dict: {
            Dict d;
            for (size_t k = 0; k + 1 < n.kids.size(); k += 2) {
                const Value key = eval(*n.kids[k], f);
                if (!key.is_string())
                    template_fail(Status::unsupported, n.line, "unsupported dict key of type %s (only strings)", type_name(key));
                d.set(key.str(), eval(*n.kids[k + 1], f));
            }
            return Value::make_dict(std::move(d));
        }
        case NK::getattr: return get_attr(eval(*n.kids[0], f), n.name, n.line);
        case NK::getitem: {
            const Value obj = eval(*n.kids[0], f);
            return get_item(obj, eval(*n.kids[1], f), n.line);
        }
        case NK::slice: {
            const Value obj = eval(*n.kids[0], f);
            auto part = [&](size_t k) { return n.kids[k] ? eval(*n.kids[k], f) : Value::none(); };
            return slice_value(obj, part(1), part(2), part(3), n.line);
        }
        case NK::call: {
            const Value callee = eval(*n.kids[0], f);
            CallArgs args = eval_args(n, f, 1);
            return invoke(callee, args, n.line);
        }
        case NK::filter: {
            if (n.unknown) template_fail(Status::unsupported, n.line, "unknown or unsupported filter '%s'", n.name.c_str());
            const Value subject = eval(*n.kids[0], f);
            CallArgs args = eval_args(n, f, 1);
            return apply_filter(n.name, subject, args);
        }
        case NK::test: {
            if (n.unknown) template_fail(Status::unsupported, n.line, "unknown or unsupported test '%s'", n.name.c_str());
            const Value subject = eval(*n.kids[0], f);
            CallArgs args = eval_args(n, f, 1);
            return Value::boolean(apply_test(n.name, subject, args) != n.negated);
        }
        case NK::unary:
            if (n.name == "not") return Value::boolean(!truthy(eval(*n.kids[0], f)));
            return negate(eval(*n.kids[0], f), n.name == "-", n.line);
        case NK::binop: {
            if (n.name == "and" || n.name == "or") {
                Value l = eval(*n.kids[0], f);
                if (truthy(l) == (n.name == "or")) return l;
                return eval(*n.kids[1], f);
            }
            const Value l = eval(*n.kids[0], f);
            const Value r = eval(*n.kids[1], f);
            return binary_op(n.name, l, r, n.line, opt_.max_output_bytes);
        }
        case NK::compare: {
            Value l = eval(*n.kids[0], f);
            for (size_t k = 1; k < n.kids.size(); ++k) {
                Value r = eval(*n.kids[k], f);
                if (!compare_op(n.argnames[k - 1], l, r, n.line)) return Value::boolean(false);
                l = std::move(r);
            }
            return Value::boolean(true);
        }
        case NK::cond:
            if (truthy(eval(*n.kids[0], f))) return eval(*n.kids[1], f);
            return n.kids[2] ? eval(*n.kids[2], f) : Value::undefined("the inline if-expression had no else branch");
        case NK::block_input:
            if (!block_input_) template_fail(Status::internal, n.line, "filter block input missing");
            return *block_input_;
        default: template_fail(Status::internal, n.line, "unexpected statement in expression position");
        }
    }
};

}  // namespace

std::string render_body(const Body &body, const nlohmann::ordered_json &context, const RenderOptions &options) {
    if (!context.is_object()) fail(Status::invalid_argument, "chat template: the render context must be a JSON object");
    Frame globals(nullptr);
    for (auto &kv : make_globals(options).items) globals.set(kv.first, kv.second);
    Frame root(&globals);
    for (auto it = context.begin(); it != context.end(); ++it) root.set(it.key(), from_json(it.value()));
    Renderer r(options);
    Frame top(&root);
    return r.run(body, top);
}

}  // namespace corvid::chat
