// Recursive-descent parser for the Jinja subset, following jinja2's grammar and precedence:
// cond-expr < or < and < not < comparisons/in < + - < ~ < * / // % < ** < unary - + < postfix
// (.attr, [item], (call)) and filters/tests (| f, is t).
#include <algorithm>
#include <initializer_list>

#include "chat/ast.h"
#include "chat/builtins.h"
#include "chat/lexer.h"
#include "chat/template_error.h"

namespace corvid::chat {
namespace {

constexpr int kMaxNesting = 200;

class Parser {
public:
    explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

    Body parse_all() { return parse_body({}, 0, nullptr); }

private:
    std::vector<Token> t_;
    size_t i_ = 0;
    int soft_ = 0;   // inside an if statement or a conditional expression
    int loops_ = 0;  // inside a for loop (break/continue allowed)
    int depth_ = 0;  // expression nesting
    // Unknown filters/tests outside any conditional, reported once their expression is complete
    // (an enclosing inline `x if c` can still make them conditional).
    struct Pending {
        Token at;
        std::string what;
    };
    std::vector<Pending> pending_;

    void report_pending() {
        if (pending_.empty()) return;
        const Pending p = pending_.front();
        unsupported(p.at, p.what);
    }

    const Token &cur() const { return t_[i_]; }
    const Token &peek(size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
    Token next() { return t_[i_ < t_.size() - 1 ? i_++ : i_]; }

    [[noreturn]] void fail_tok(const Token &t, const std::string &msg) const {
        template_fail_at(Status::format, t.line, t.col, "%s", msg.c_str());
    }
    [[noreturn]] void unsupported(const Token &t, const std::string &msg) const {
        template_fail_at(Status::unsupported, t.line, t.col, "%s", msg.c_str());
    }

    static std::string describe(const Token &t) {
        switch (t.type) {
        case Tok::eof: return "end of template";
        case Tok::data: return "template data";
        case Tok::var_begin: return "'{{'";
        case Tok::var_end: return "'}}'";
        case Tok::block_begin: return "'{%'";
        case Tok::block_end: return "'%}'";
        case Tok::string: return "string literal";
        case Tok::integer: case Tok::floating: return "number '" + t.text + "'";
        default: return "'" + t.text + "'";
        }
    }

    bool is_op(const char *op) const { return cur().type == Tok::op && cur().text == op; }
    bool is_name(const char *n) const { return cur().type == Tok::name && cur().text == n; }
    bool skip_op(const char *op) {
        if (!is_op(op)) return false;
        next();
        return true;
    }
    bool skip_name(const char *n) {
        if (!is_name(n)) return false;
        next();
        return true;
    }
    void expect_op(const char *op) {
        if (!skip_op(op)) fail_tok(cur(), std::string("expected '") + op + "', found " + describe(cur()));
    }
    std::string expect_name(const char *what) {
        if (cur().type != Tok::name) fail_tok(cur(), std::string("expected ") + what + ", found " + describe(cur()));
        return next().text;
    }
    void expect_block_end(const char *tag) {
        if (cur().type != Tok::block_end)
            fail_tok(cur(), std::string("expected end of '") + tag + "' tag ('%}'), found " + describe(cur()));
        next();
    }

    NodePtr node(NK k, const Token &at) { return std::make_unique<Node>(k, at.line); }

    // ---- statements -------------------------------------------------------------------------

    // Parses until `{% <one of ends> ...` (left unconsumed) or the end of the template.
    Body parse_body(std::initializer_list<const char *> ends, int open_line, const char *open_tag) {
        Body body;
        while (true) {
            const Token &tk = cur();
            if (tk.type == Tok::eof) {
                if (ends.size() == 0) return body;
                template_fail(Status::format, open_line, "unexpected end of template: '%s' block opened here is never closed (expected '%s')",
                              open_tag, *ends.begin());
            }
            if (tk.type == Tok::data) {
                auto n = node(NK::text, tk);
                n->name = tk.text;
                body.push_back(std::move(n));
                next();
                continue;
            }
            if (tk.type == Tok::var_begin) {
                const Token begin = next();
                auto n = node(NK::output, begin);
                n->kids.push_back(parse_tuple());
                if (cur().type != Tok::var_end) fail_tok(cur(), "expected '}}', found " + describe(cur()));
                next();
                body.push_back(std::move(n));
                report_pending();
                continue;
            }
            if (tk.type != Tok::block_begin) fail_tok(tk, "unexpected " + describe(tk));
            const Token &name = peek();
            if (name.type != Tok::name) fail_tok(name, "expected a statement name after '{%', found " + describe(name));
            for (const char *e : ends)
                if (name.text == e) return body;
            next();  // {%
            body.push_back(parse_statement());
            report_pending();
        }
    }

    NodePtr parse_statement() {
        const Token tag = next();
        const std::string &n = tag.text;
        if (n == "if") return parse_if(tag);
        if (n == "for") return parse_for(tag);
        if (n == "set") return parse_set(tag);
        if (n == "macro") return parse_macro(tag);
        if (n == "call") return parse_call_block(tag);
        if (n == "filter") return parse_filter_block(tag);
        if (n == "break" || n == "continue") {
            if (loops_ == 0) fail_tok(tag, "'" + n + "' outside of a for loop");
            expect_block_end(n.c_str());
            return node(n == "break" ? NK::break_ : NK::continue_, tag);
        }
        static const char *unsupported_tags[] = {"extends", "include", "import", "from", "block", "with",
                                                 "autoescape", "do", "trans", "generation", "endgeneration"};
        for (const char *u : unsupported_tags)
            if (n == u) unsupported(tag, "unsupported statement '{% " + n + " %}'");
        if (n.compare(0, 3, "end") == 0 || n == "elif" || n == "else")
            fail_tok(tag, "unexpected '{% " + n + " %}' without a matching opening statement");
        fail_tok(tag, "unknown statement '{% " + n + " %}'");
    }

    NodePtr parse_if(const Token &tag) {
        auto n = node(NK::if_, tag);
        ++soft_;
        while (true) {
            n->kids.push_back(parse_tuple());
            expect_block_end("if");
            n->bodies.push_back(parse_body({"elif", "else", "endif"}, tag.line, "if"));
            next();  // {%
            const Token kw = next();
            if (kw.text == "elif") continue;
            if (kw.text == "else") {
                expect_block_end("else");
                n->bodies.push_back(parse_body({"endif"}, tag.line, "if"));
                next();
                next();
            }
            expect_block_end("endif");
            break;
        }
        --soft_;
        return n;
    }

    std::vector<std::string> parse_targets(const char *what) {
        std::vector<std::string> names;
        const bool paren = skip_op("(");
        do {
            if (paren && is_op(")")) break;
            names.push_back(expect_name(what));
        } while (skip_op(","));
        if (paren) expect_op(")");
        return names;
    }

    NodePtr parse_for(const Token &tag) {
        auto n = node(NK::for_, tag);
        n->argnames = parse_targets("a loop variable name");
        if (!skip_name("in")) fail_tok(cur(), "expected 'in' in for statement, found " + describe(cur()));
        n->kids.push_back(parse_tuple(/*no_condexpr=*/true));
        n->kids.push_back(nullptr);
        if (skip_name("if")) n->kids[1] = parse_expression();
        if (is_name("recursive")) unsupported(cur(), "unsupported 'recursive' for loop");
        expect_block_end("for");
        ++loops_;
        n->bodies.push_back(parse_body({"else", "endfor"}, tag.line, "for"));
        --loops_;
        next();
        if (next().text == "else") {
            expect_block_end("else");
            n->bodies.push_back(parse_body({"endfor"}, tag.line, "for"));
            next();
            next();
        }
        expect_block_end("endfor");
        return n;
    }

    NodePtr parse_set(const Token &tag) {
        const Token first = cur();
        std::string target = expect_name("a variable name");
        if (is_op(".")) {
            next();
            auto n = node(NK::set, tag);
            n->argnames.push_back(target);
            n->attr = expect_name("an attribute name");
            expect_op("=");
            n->kids.push_back(parse_tuple());
            expect_block_end("set");
            return n;
        }
        if (is_op(",")) {
            auto n = node(NK::set, tag);
            n->argnames.push_back(target);
            while (skip_op(",")) n->argnames.push_back(expect_name("a variable name"));
            expect_op("=");
            n->kids.push_back(parse_tuple());
            expect_block_end("set");
            return n;
        }
        if (skip_op("=")) {
            auto n = node(NK::set, tag);
            n->argnames.push_back(target);
            n->kids.push_back(parse_tuple());
            expect_block_end("set");
            return n;
        }
        // Block set: {% set x %}...{% endset %} or {% set x | filter %}...
        auto n = node(NK::set_block, tag);
        n->argnames.push_back(target);
        n->kids.push_back(nullptr);
        if (is_op("|")) n->kids[0] = parse_filter_chain(first);
        expect_block_end("set");
        n->bodies.push_back(parse_body({"endset"}, tag.line, "set"));
        next();
        next();
        expect_block_end("endset");
        return n;
    }

    NodePtr parse_filter_chain(const Token &at) {
        NodePtr subject = node(NK::block_input, at);
        if (!is_op("|")) fail_tok(cur(), "expected a filter, found " + describe(cur()));
        return parse_filters(std::move(subject), /*leading_pipe_consumed=*/false);
    }

    void parse_params(Node &n) {
        expect_op("(");
        bool need_default = false;
        while (!is_op(")")) {
            if (!n.argnames.empty()) expect_op(",");
            if (is_op(")")) break;
            const Token pt = cur();
            n.argnames.push_back(expect_name("a parameter name"));
            if (skip_op("=")) {
                n.kids.push_back(parse_expression());
                need_default = true;
            } else {
                if (need_default) fail_tok(pt, "non-default parameter follows default parameter");
                n.kids.push_back(nullptr);
            }
        }
        expect_op(")");
    }

    NodePtr parse_macro(const Token &tag) {
        auto n = node(NK::macro, tag);
        n->name = expect_name("a macro name");
        parse_params(*n);
        expect_block_end("macro");
        const int saved_loops = loops_;
        loops_ = 0;
        n->bodies.push_back(parse_body({"endmacro"}, tag.line, "macro"));
        loops_ = saved_loops;
        next();
        next();
        if (cur().type == Tok::name) next();  // {% endmacro name %}
        expect_block_end("endmacro");
        return n;
    }

    NodePtr parse_call_block(const Token &tag) {
        auto n = node(NK::call_block, tag);
        n->kids.push_back(nullptr);
        if (is_op("(")) parse_params(*n);
        const Token at = cur();
        NodePtr call = parse_expression();
        if (call->kind != NK::call) fail_tok(at, "expected a macro call in '{% call %}'");
        n->kids[0] = std::move(call);
        expect_block_end("call");
        const int saved_loops = loops_;
        loops_ = 0;
        n->bodies.push_back(parse_body({"endcall"}, tag.line, "call"));
        loops_ = saved_loops;
        next();
        next();
        expect_block_end("endcall");
        return n;
    }

    NodePtr parse_filter_block(const Token &tag) {
        auto n = node(NK::filter_block, tag);
        NodePtr subject = node(NK::block_input, tag);
        n->kids.push_back(parse_filters(std::move(subject), /*leading_pipe_consumed=*/true));
        expect_block_end("filter");
        n->bodies.push_back(parse_body({"endfilter"}, tag.line, "filter"));
        next();
        next();
        expect_block_end("endfilter");
        return n;
    }

    // ---- expressions ------------------------------------------------------------------------

    struct DepthGuard {
        Parser &p;
        explicit DepthGuard(Parser &pp) : p(pp) {
            if (++p.depth_ > kMaxNesting) p.fail_tok(p.cur(), "expression nested too deeply");
        }
        ~DepthGuard() { --p.depth_; }
    };

    // An expression or a bare tuple "a, b" (as in {{ a, b }} or {% set x = 1, 2 %}).
    NodePtr parse_tuple(bool no_condexpr = false) {
        const Token at = cur();
        NodePtr first = no_condexpr ? parse_or() : parse_expression();
        if (!is_op(",")) return first;
        auto t = node(NK::tuple, at);
        t->kids.push_back(std::move(first));
        while (skip_op(",")) {
            if (cur().type == Tok::var_end || cur().type == Tok::block_end || is_op(")")) break;
            t->kids.push_back(no_condexpr ? parse_or() : parse_expression());
        }
        return t;
    }

    NodePtr parse_expression() {
        DepthGuard g(*this);
        const Token at = cur();
        const size_t mark = pending_.size();
        NodePtr expr = parse_or();
        while (is_name("if")) {
            next();
            pending_.resize(std::min(pending_.size(), mark));  // the value part is conditional
            ++soft_;
            auto c = node(NK::cond, at);
            c->kids.push_back(parse_or());
            c->kids.push_back(std::move(expr));
            c->kids.push_back(skip_name("else") ? parse_expression() : nullptr);
            --soft_;
            expr = std::move(c);
        }
        return expr;
    }

    NodePtr binop(const Token &at, const std::string &op, NodePtr a, NodePtr b) {
        auto n = node(NK::binop, at);
        n->name = op;
        n->kids.push_back(std::move(a));
        n->kids.push_back(std::move(b));
        return n;
    }

    NodePtr parse_or() {
        NodePtr l = parse_and();
        while (is_name("or")) {
            const Token at = next();
            l = binop(at, "or", std::move(l), parse_and());
        }
        return l;
    }

    NodePtr parse_and() {
        NodePtr l = parse_not();
        while (is_name("and")) {
            const Token at = next();
            l = binop(at, "and", std::move(l), parse_not());
        }
        return l;
    }

    NodePtr parse_not() {
        if (is_name("not")) {
            DepthGuard g(*this);
            const Token at = next();
            auto n = node(NK::unary, at);
            n->name = "not";
            n->kids.push_back(parse_not());
            return n;
        }
        return parse_compare();
    }

    NodePtr parse_compare() {
        const Token at = cur();
        NodePtr first = parse_math1();
        NodePtr cmp;
        while (true) {
            std::string op;
            if (cur().type == Tok::op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                          cur().text == ">" || cur().text == "<=" || cur().text == ">=")) {
                op = next().text;
            } else if (is_name("in")) {
                next();
                op = "in";
            } else if (is_name("not") && peek().type == Tok::name && peek().text == "in") {
                next();
                next();
                op = "notin";
            } else {
                break;
            }
            if (!cmp) {
                cmp = node(NK::compare, at);
                cmp->kids.push_back(std::move(first));
            }
            cmp->argnames.push_back(op);
            cmp->kids.push_back(parse_math1());
        }
        return cmp ? std::move(cmp) : std::move(first);
    }

    NodePtr parse_math1() {
        NodePtr l = parse_concat();
        while (is_op("+") || is_op("-")) {
            const Token at = next();
            l = binop(at, at.text, std::move(l), parse_concat());
        }
        return l;
    }

    NodePtr parse_concat() {
        NodePtr l = parse_math2();
        while (is_op("~")) {
            const Token at = next();
            l = binop(at, "~", std::move(l), parse_math2());
        }
        return l;
    }

    NodePtr parse_math2() {
        NodePtr l = parse_pow();
        while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
            const Token at = next();
            l = binop(at, at.text, std::move(l), parse_pow());
        }
        return l;
    }

    NodePtr parse_pow() {
        NodePtr l = parse_unary(true);
        while (is_op("**")) {
            const Token at = next();
            l = binop(at, "**", std::move(l), parse_unary(true));
        }
        return l;
    }

    NodePtr parse_unary(bool with_filter) {
        DepthGuard g(*this);
        NodePtr n;
        if (is_op("-") || is_op("+")) {
            const Token at = next();
            n = node(NK::unary, at);
            n->name = at.text;
            n->kids.push_back(parse_unary(false));
        } else {
            n = parse_primary();
        }
        n = parse_postfix(std::move(n));
        if (with_filter) n = parse_filters(std::move(n), false);
        return n;
    }

    NodePtr parse_primary() {
        const Token at = cur();
        switch (at.type) {
        case Tok::name: {
            next();
            auto n = node(NK::literal, at);
            if (at.text == "true" || at.text == "True") n->value = Value::boolean(true);
            else if (at.text == "false" || at.text == "False") n->value = Value::boolean(false);
            else if (at.text == "none" || at.text == "None") n->value = Value::none();
            else {
                n->kind = NK::name;
                n->name = at.text;
            }
            return n;
        }
        case Tok::string: {
            std::string s;
            while (cur().type == Tok::string) s += next().text;  // adjacent literals concatenate
            auto n = node(NK::literal, at);
            n->value = Value::string(std::move(s));
            return n;
        }
        case Tok::integer: case Tok::floating: {
            next();
            auto n = node(NK::literal, at);
            n->value = at.type == Tok::integer ? Value::integer(at.ival) : Value::floating(at.fval);
            return n;
        }
        case Tok::op:
            if (at.text == "(") {
                next();
                if (skip_op(")")) {
                    auto t = node(NK::tuple, at);
                    return t;
                }
                NodePtr e = parse_expression();
                if (is_op(",")) {
                    auto t = node(NK::tuple, at);
                    t->kids.push_back(std::move(e));
                    while (skip_op(",")) {
                        if (is_op(")")) break;
                        t->kids.push_back(parse_expression());
                    }
                    e = std::move(t);
                }
                expect_op(")");
                return e;
            }
            if (at.text == "[") {
                next();
                auto l = node(NK::list, at);
                while (!is_op("]")) {
                    if (!l->kids.empty()) expect_op(",");
                    if (is_op("]")) break;
                    l->kids.push_back(parse_expression());
                }
                expect_op("]");
                return l;
            }
            if (at.text == "{") {
                next();
                auto d = node(NK::dict, at);
                while (!is_op("}")) {
                    if (!d->kids.empty()) expect_op(",");
                    if (is_op("}")) break;
                    d->kids.push_back(parse_expression());
                    expect_op(":");
                    d->kids.push_back(parse_expression());
                }
                expect_op("}");
                return d;
            }
            break;
        default: break;
        }
        fail_tok(at, "unexpected " + describe(at) + " in expression");
    }

    NodePtr parse_postfix(NodePtr n) {
        while (true) {
            const Token at = cur();
            if (is_op(".")) {
                next();
                const Token a = next();
                if (a.type == Tok::name) {
                    auto g = node(NK::getattr, at);
                    g->name = a.text;
                    g->kids.push_back(std::move(n));
                    n = std::move(g);
                } else if (a.type == Tok::integer) {
                    auto g = node(NK::getitem, at);
                    g->kids.push_back(std::move(n));
                    auto lit = node(NK::literal, a);
                    lit->value = Value::integer(a.ival);
                    g->kids.push_back(std::move(lit));
                    n = std::move(g);
                } else {
                    fail_tok(a, "expected an attribute name after '.', found " + describe(a));
                }
            } else if (is_op("[")) {
                next();
                n = parse_subscript(std::move(n), at);
                expect_op("]");
            } else if (is_op("(")) {
                n = parse_call(std::move(n), at);
            } else {
                return n;
            }
        }
    }

    NodePtr parse_subscript(NodePtr obj, const Token &at) {
        NodePtr parts[3];
        int colons = 0;
        if (!is_op(":")) parts[0] = parse_expression();
        if (is_op(":")) {
            while (colons < 2 && skip_op(":")) {
                ++colons;
                if (!is_op(":") && !is_op("]")) parts[colons] = parse_expression();
            }
        }
        if (colons == 0) {
            if (is_op(",")) unsupported(cur(), "unsupported tuple subscript");
            auto g = node(NK::getitem, at);
            g->kids.push_back(std::move(obj));
            g->kids.push_back(std::move(parts[0]));
            return g;
        }
        auto s = node(NK::slice, at);
        s->kids.push_back(std::move(obj));
        for (auto &p : parts) s->kids.push_back(std::move(p));
        return s;
    }

    // ( args ) after a callee, a filter or a test; appends to n->kids / n->argnames.
    void parse_args(Node &n) {
        expect_op("(");
        bool first = true;
        while (!is_op(")")) {
            if (!first) expect_op(",");
            first = false;
            if (is_op(")")) break;
            if (is_op("*") || is_op("**")) unsupported(cur(), "unsupported '*args' / '**kwargs' in a call");
            if (cur().type == Tok::name && peek().type == Tok::op && peek().text == "=") {
                n.argnames.push_back(next().text);
                next();
            } else {
                for (const auto &a : n.argnames)
                    if (!a.empty()) fail_tok(cur(), "positional argument follows keyword argument");
                n.argnames.push_back("");
            }
            n.kids.push_back(parse_expression());
        }
        expect_op(")");
    }

    NodePtr parse_call(NodePtr callee, const Token &at) {
        auto c = node(NK::call, at);
        c->kids.push_back(std::move(callee));
        parse_args(*c);
        return c;
    }

    NodePtr parse_filters(NodePtr n, bool leading_pipe_consumed) {
        bool pipe_done = leading_pipe_consumed;
        while (true) {
            if (pipe_done || is_op("|")) {
                if (!pipe_done) next();
                pipe_done = false;
                const Token at = cur();
                std::string name = expect_name("a filter name");
                while (is_op(".") && peek().type == Tok::name) {
                    next();
                    name += "." + next().text;
                }
                auto f = node(NK::filter, at);
                f->name = name;
                f->kids.push_back(std::move(n));
                if (is_op("(")) parse_args(*f);
                check_known(*f, at, has_filter(name), "filter");
                n = std::move(f);
            } else if (is_name("is")) {
                next();
                const bool neg = skip_name("not");
                const Token at = cur();
                std::string name;
                if (cur().type == Tok::name) name = next().text;
                else if (cur().type == Tok::op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                                   cur().text == ">" || cur().text == "<=" || cur().text == ">="))
                    name = next().text;
                else fail_tok(cur(), "expected a test name after 'is', found " + describe(cur()));
                auto t = node(NK::test, at);
                t->name = name;
                t->negated = neg;
                t->kids.push_back(std::move(n));
                if (is_op("(")) {
                    parse_args(*t);
                } else if ((cur().type == Tok::name || cur().type == Tok::string || cur().type == Tok::integer ||
                            cur().type == Tok::floating || is_op("[") || is_op("{") || is_op("(")) &&
                           !is_name("else") && !is_name("or") && !is_name("and") && !is_name("if") &&
                           !is_name("in") && !is_name("not") && !is_name("is")) {
                    // `is divisibleby 3`, `is sameas false`: one argument without parentheses.
                    t->argnames.push_back("");
                    t->kids.push_back(parse_postfix(parse_primary()));
                }
                check_known(*t, at, has_test(name), "test");
                n = std::move(t);
            } else if (is_op("(")) {
                const Token at = cur();
                n = parse_call(std::move(n), at);
            } else {
                return n;
            }
        }
    }

    void check_known(Node &n, const Token &at, bool known, const char *what) {
        if (known) return;
        // jinja2 reports unknown filters/tests when compiling, except inside conditionals, where
        // only reaching them fails.
        n.unknown = true;
        if (soft_ == 0) pending_.push_back({at, std::string("unknown or unsupported ") + what + " '" + n.name + "'"});
    }
};

}  // namespace

Body parse_template(const std::string &source) { return Parser(lex(source)).parse_all(); }

}  // namespace corvid::chat
