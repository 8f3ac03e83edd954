// Focused tests of the chat-template (Jinja subset) interpreter. Expected strings are what
// jinja2 3.1.6 renders in Hugging Face's environment (checked with Python when written).
#include <doctest/doctest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "util/error.h"

using corvid::Status;
using corvid::chat::RenderOptions;
using corvid::chat::Template;
using json = nlohmann::ordered_json;

namespace {

std::string render(const std::string &src, const json &ctx = json::object(), const RenderOptions &o = {}) {
    return Template::parse(src)->render(ctx, o);
}

// The corvid::Error a template raises at parse or render time ("" when none).
std::string error_of(const std::string &src, const json &ctx = json::object(), Status *status = nullptr,
                     const RenderOptions &o = {}) {
    try {
        Template::parse(src)->render(ctx, o);
    } catch (const corvid::Error &e) {
        if (status) *status = e.status();
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("jinja: whitespace control, trim_blocks and lstrip_blocks") {
    CHECK(render("a {% if true %}\n  x\n  {% endif %}\n  b {# c #}\n  {#- d #}e\n") == "a   x\n  b e");
    CHECK(render("{% for i in [1,2] %}\n{{ i }}\n{% endfor %}\n") == "1\n2\n");
    CHECK(render("  {%- if true -%}  \n x \n {%- endif %}") == "x");
    CHECK(render("  {%+ if true %}x{% endif %}") == "  x");
    CHECK(render("{% if true +%}\nx{% endif %}") == "\nx");
    CHECK(render("a  {{- 'b' -}}  \n c") == "abc");
    CHECK(render("line\n    {% set x = 1 %}\nnext") == "line\nnext");
    CHECK(render("x\n\n") == "x\n");  // one trailing newline dropped
    CHECK(render("a\r\nb") == "a\nb");
    CHECK(render("{% raw %}{{ not evaluated }}{% endraw %}") == "{{ not evaluated }}");
    CHECK(render("{# comment {{ x }} #}ok") == "ok");
    CHECK(render("{{ {'a': {'b': 1}}['a']['b'] }}") == "1");  // '}}' inside a dict literal
}

TEST_CASE("jinja: values print as Python prints them") {
    CHECK(render("{{ [1,'a',none,true,1.0,{'k':'v'}] }}") == "[1, 'a', None, True, 1.0, {'k': 'v'}]");
    CHECK(render("{{ 1.0 }}|{{ 1e20 }}|{{ 1e16 }}|{{ 0.0001 }}|{{ 0.00001 }}|{{ 0.1+0.2 }}") ==
          "1.0|1e+20|1e+16|0.0001|1e-05|0.30000000000000004");
    CHECK(render("{{ 10/4 }}|{{ 7//2 }}|{{ -7//2 }}|{{ -7 % 3 }}|{{ 2**10 }}|{{ 2**-1 }}|{{ 7.5 // 2 }}") ==
          "2.5|3|-4|2|1024|0.5|3.0");
    CHECK(render("{{ ('a','b') }}{{ (1,) }}{{ () }}") == "('a', 'b')(1,)()");
    CHECK(render("{{ ['it\\'s', 'a\"b', 'x\\ny'] }}") == "[\"it's\", 'a\"b', 'x\\ny']");
    CHECK(render("{{ 'a\\d\\n\\x41\\u00e9' }}") == "a\\d\nAé");
    CHECK(render("{{ x }}", json{{"x", nullptr}}) == "None");
    CHECK(render("{{ true }}{{ false|string }}") == "TrueFalse");
    CHECK(render("{{ 'abc' ~ none ~ 1.5 }}") == "abcNone1.5");
    CHECK(render("{{ d }}", json{{"d", {{"z", 1}, {"a", {1, 2}}}}}) == "{'z': 1, 'a': [1, 2]}");
    CHECK(render("{{ namespace(a=1) }}") == "<Namespace {'a': 1}>");
}

TEST_CASE("jinja: undefined semantics") {
    CHECK(render("[{{ x }}]{{ x|length }}{{ x|trim }}|{{ x ~ 'a' }}") == "[]0|a");
    CHECK(render("{% if x %}y{% else %}n{% endif %}{{ x is defined }}{{ x is undefined }}") == "nFalseTrue");
    CHECK(render("{% for a in x %}{{a}}{% endfor %}ok") == "ok");
    CHECK(render("{{ d.missing is defined }}{{ d['missing'] is defined }}", json{{"d", json::object()}}) == "FalseFalse");
    CHECK(render("{{ none.x }}|{{ 'abc'.foo }}|{{ [1].foo }}|{{ [1,2][5] }}") == "|||");
    CHECK(render("{{ 1 if false }}|") == "|");
    CHECK(render("{{ x|default('d') }}{{ ''|default('d') }}{{ ''|default('d', true) }}{{ none|default('d') }}") ==
          "ddNone");
    CHECK(error_of("{{ x.y }}").find("'x' is undefined") != std::string::npos);
    CHECK(error_of("{{ 'a' + x }}").find("'x' is undefined") != std::string::npos);
    CHECK(error_of("{{ -x }}") != "");
    CHECK(error_of("{{ x|tojson }}").find("not JSON serializable") != std::string::npos);
    CHECK(error_of("{% for a in none %}{% endfor %}").find("not iterable") != std::string::npos);
}

TEST_CASE("jinja: scoping of set in loops, ifs and macros") {
    CHECK(render("{% set x = 0 %}{% for i in range(3) %}{{ x }}{% set x = x + 1 %}{{x}}{% endfor %}{{x}}") ==
          "0101010");
    CHECK(render("{% if true %}{% set y = 5 %}{% endif %}{{ y }}") == "5");
    CHECK(render("{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}") ==
          "6");
    CHECK(render("{% set x = 1 %}{% macro f() %}{{ x }}{% endmacro %}{{ f() }}") == "1");
    CHECK(render("{% macro f() %}{{ x }}{% endmacro %}{% set x = 1 %}{{ f() }}") == "1");
    CHECK(render("{% macro f() %}{{ x }}{% endmacro %}{% for i in [1] %}{% set x = 2 %}{{ f() }}{% endfor %}") == "");
    CHECK(render("{% for i in [1] %}{% set x = 2 %}{% macro f() %}{{ x }}{% endmacro %}{{ f() }}{% endfor %}") == "2");
    CHECK(render("{% set a, b = 1, 2 %}{{a}}{{b}}") == "12");
    CHECK(render("{% set s %}  in {{ 1 }}  {% endset %}[{{ s }}]{% set t | trim %}  x  {% endset %}[{{ t }}]") ==
          "[  in 1  ][x]");
}

TEST_CASE("jinja: for loops") {
    CHECK(render("{% for a in [1,2,3] %}{{ loop.previtem }}-{{loop.nextitem}}-{{loop.revindex}}-{{loop.length}};{% endfor %}") ==
          "-2-3-3;1-3-2-3;2--1-3;");
    CHECK(render("{% for a in [1,2,3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }} {% endfor %}") ==
          "10TrueFalse 21FalseFalse 32FalseTrue ");
    CHECK(render("{% for k, v in d|items %}{{k}}={{v}};{% endfor %}", json{{"d", {{"b", 1}, {"a", 2}}}}) == "b=1;a=2;");
    CHECK(render("{% for k, v in d.items() %}{{k}}{{v}}{% endfor %}", json{{"d", {{"x", 1}}}}) == "x1");
    CHECK(render("{% for k in d %}{{k}}{% endfor %}", json{{"d", {{"x", 1}, {"y", 2}}}}) == "xy");
    CHECK(render("{% for i in range(10) if i is odd %}{{ i }}{{ loop.length }},{% endfor %}") == "15,35,55,75,95,");
    CHECK(render("{% for i in [] %}x{% else %}empty{% endfor %}") == "empty");
    CHECK(render("{% for i in range(10) %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}") == "012");
    CHECK(render("{% for i in range(5) %}{% if i is even %}{% continue %}{% endif %}{{ i }}{% endfor %}") == "13");
    CHECK(render("{% for i in [1,2] %}{% for j in 'ab' %}{{ loop.index }}{{ j }}{% endfor %}{{ loop.index }}{% endfor %}") ==
          "1a2b11a2b2");
    CHECK(render("{% for x in [1,2,3] %}{{ loop.cycle('a','b') }}{% endfor %}") == "aba");
    CHECK(render("{% for m in msgs[::-1] %}{{ m }}{% endfor %}", json{{"msgs", {1, 2, 3}}}) == "321");
}

TEST_CASE("jinja: macros and call blocks") {
    CHECK(render("{% macro f(a, b=2) %}[{{a}}{{b}}{{ caller() if caller }}]{% endmacro %}{{ f(1) }}{% call f(3) %}in{% endcall %}") ==
          "[12][32in]");
    CHECK(render("{% macro f(a, b='x') %}{{a}}{{b}}{% endmacro %}{{ f(b='y', a='z') }}") == "zy");
    CHECK(render("{% macro list(items) %}{% for i in items %}<{{ caller(i) }}>{% endfor %}{% endmacro %}"
                 "{% call(x) list([1,2]) %}{{ x * 10 }}{% endcall %}") == "<10><20>");
    CHECK(render("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}") == "321");
    CHECK(error_of("{% macro f(a) %}{% endmacro %}{{ f(1, 2) }}").find("takes not more than 1 argument") != std::string::npos);
    CHECK(render("{% filter upper %}abc{% endfilter %}") == "ABC");
}

TEST_CASE("jinja: expressions, tests and operators") {
    CHECK(render("{{ 1 < 2 < 3 }}{{ 'b' in 'abc' }}{{ 2 not in [1] }}{{ 'k' in d }}", json{{"d", {{"k", 1}}}}) ==
          "TrueTrueTrueTrue");
    CHECK(render("{{ 1 == 1.0 }}{{ true == 1 }}{{ [1,2] == [1,2] }}{{ 'a' < 'b' }}") == "TrueTrueTrueTrue");
    CHECK(render("{{ x is string }}|{{ [1] is sequence }}|{{ 3 is divisibleby 3 }}|{{ none is none }}|{{ false is sameas false }}") ==
          "False|True|True|True|True");
    CHECK(render("{{ 1 is number }}{{ true is number }}{{ true is integer }}{{ {} is mapping }}{{ 'a' is iterable }}{{ 1 is iterable }}") ==
          "TrueTrueFalseTrueTrueFalse");
    CHECK(render("{{ 'x' * 3 }}{{ [1]*2 }}{{ 3 * 'ab' }}") == "xxx[1, 1]ababab");
    CHECK(render("{{ 'yes' if 0 else 'no' }}{{ 0 or 'b' }}{{ 1 and 'c' }}{{ not 0 }}") == "nobcTrue");
    CHECK(render("{{ m|length - 1 }}", json{{"m", {1, 2, 3}}}) == "2");
    CHECK(render("{{ 'héllo'[1:3] }}{{ 'héllo'|length }}{{ 'abc'[::-1] }}{{ 'abcdef'[-2:] }}{{ [1,2,3,4][1:-1] }}") ==
          "él5cbaef[2, 3]");
    CHECK(render("{{ 'a' 'b' }}") == "ab");
    CHECK(render("{{ -1|abs }}{{ -(2) }}") == "1-2");
}

TEST_CASE("jinja: filters") {
    CHECK(render("{{ '  x  '|trim }}|{{ 'ab'|upper }}|{{ 'AB'|lower }}|{{ 'hello world'|title }}|{{ 'hELLO'|capitalize }}") ==
          "x|AB|ab|Hello World|Hello");
    CHECK(render("{{ [1,2,3]|join(', ') }}|{{ 'a-b'|replace('-', '+') }}|{{ [3,1,2]|sort }}|{{ [3,1,2]|reverse|list }}") ==
          "1, 2, 3|a+b|[1, 2, 3]|[2, 1, 3]");
    CHECK(render("{{ [1,1,2]|unique|list }}{{ {'b':1,'a':2}|dictsort }}{{ [1,2]|first }}{{ [1,2]|last }}{{ 'ab'|list }}") ==
          "[1, 2][('a', 2), ('b', 1)]12['a', 'b']");
    CHECK(render("{{ 1.5|round }}|{{ 2.5|round }}|{{ 3.14159|round(2) }}|{{ 3|round }}|{{ '3'|int }}|{{ 'x'|int }}|{{ '2.5'|float }}|{{ 1|float }}") ==
          "2.0|2.0|3.14|3|3|0|2.5|1.0");
    CHECK(render("{{ 'a\nb'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb\n'|indent }}") ==
          "a\n  b|  a\n  b|a\n\n    b\n");
    CHECK(render("{{ [1,2,3]|map('string')|join(',') }}{{ l|map(attribute='a')|list }}{{ [1,2,3]|select('odd')|list }}",
                 json{{"l", {{{"a", 1}}, {{"a", 2}}}}}) == "1,2,3[1, 2][1, 3]");
    const json msgs = {{{"role", "user"}, {"content", "a"}}, {{"role", "bot"}, {"content", "b"}}};
    CHECK(render("{{ m|selectattr('role', 'equalto', 'user')|list|length }}{{ m|rejectattr('role', 'eq', 'user')|map(attribute='content')|join }}",
                 json{{"m", msgs}}) == "1b");
    CHECK(render("{{ ['a','code']|reject('equalto', 'code')|join(', ') }}") == "a");
    CHECK(render("{{ x|tojson }}", json{{"x", {{"a", "é\"\n"}, {"b", {1, 2.5, nullptr, true}}}}}) ==
          "{\"a\": \"é\\\"\\n\", \"b\": [1, 2.5, null, true]}");
    CHECK(render("{{ x|tojson(indent=2) }}", json{{"x", {{"a", {1}}, {"e", json::object()}}}}) ==
          "{\n  \"a\": [\n    1\n  ],\n  \"e\": {}\n}");
    CHECK(render("{{ x|tojson(sort_keys=true, separators=(',', ':')) }}", json{{"x", {{"b", 1}, {"a", 2}}}}) ==
          "{\"a\":2,\"b\":1}");
    CHECK(render("{{ 'é'|tojson(ensure_ascii=true) }}{{ '🦙'|tojson(ensure_ascii=true) }}") == "\"\\u00e9\"\"\\ud83e\\udd99\"");
    CHECK(render("{{ '<a>'|safe }}{{ '<a>'|e }}") == "<a>&lt;a&gt;");
}

TEST_CASE("jinja: string and dict methods") {
    CHECK(render("{{ 'a,b,,c'.split(',') }}{{ ' a  b '.split() }}{{ 'a b c'.split(' ', 1) }}{{ 'a b c'.rsplit(' ', 1) }}") ==
          "['a', 'b', '', 'c']['a', 'b']['a', 'b c']['a b', 'c']");
    CHECK(render("{{ 'x</think>\n\ny'.split('</think>')[-1].lstrip('\\n') }}|{{ '--a--'.strip('-') }}|{{ ' a '.rstrip() }}|") ==
          "y|a| a|");
    CHECK(render("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}{{ 'abcabc'.find('c') }}{{ 'abcabc'.count('bc') }}") ==
          "TrueTrue22");
    CHECK(render("{{ 'aXa'.replace('a', 'b') }}{{ 'ab'.upper() }}{{ 'hello there'.title() }}") == "bXbABHello There");
    CHECK(render("{{ d.get('b', 3) }}{{ d.get('a') }}{{ d.get('b') }}{{ d.keys()|list }}{{ d.values()|list }}",
                 json{{"d", {{"a", 1}}}}) == "31None['a'][1]");
    CHECK(render("{{ dict(a=1, b='x') }}") == "{'a': 1, 'b': 'x'}");
    CHECK(error_of("{{ x.append(1) }}", json{{"x", {1}}}).find("unsafe") != std::string::npos);
}

TEST_CASE("jinja: globals (raise_exception, strftime_now, range)") {
    Status st = Status::ok;
    const std::string e = error_of("line one\n{{ raise_exception('System role not supported') }}", json::object(), &st);
    CHECK(st == Status::invalid_argument);
    CHECK(e.find("System role not supported") != std::string::npos);
    CHECK(e.find("line 2") != std::string::npos);
    RenderOptions o;
    o.now = [] { return corvid::chat::fixed_time(2026, 1, 15, 10, 30, 0); };
    CHECK(render("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%B %d, %Y') }}|{{ strftime_now('%A %H:%M') }}", json::object(), o) ==
          "15 Jan 2026|January 15, 2026|Thursday 10:30");
    CHECK(render("{{ range(3)|list }}{{ range(1, 7, 2)|list }}{{ range(3, 0, -1)|list }}") == "[0, 1, 2][1, 3, 5][3, 2, 1]");
    CHECK(error_of("{{ range(200000)|length }}").find("range too big") != std::string::npos);
}

TEST_CASE("jinja: errors name the line and the construct") {
    Status st = Status::ok;
    std::string e = error_of("ok\n{% extends 'base.html' %}", json::object(), &st);
    CHECK(st == Status::unsupported);
    CHECK(e.find("line 2") != std::string::npos);
    CHECK(e.find("extends") != std::string::npos);
    e = error_of("{% include 'x' %}", json::object(), &st);
    CHECK((st == Status::unsupported && e.find("include") != std::string::npos));
    e = error_of("{% import 'x' as y %}", json::object(), &st);
    CHECK((st == Status::unsupported && e.find("import") != std::string::npos));
    e = error_of("a\nb\n{{ x|frobnicate }}", json::object(), &st);
    CHECK((st == Status::unsupported && e.find("frobnicate") != std::string::npos && e.find("line 3") != std::string::npos));
    e = error_of("{{ x is frobbed }}", json::object(), &st);
    CHECK((st == Status::unsupported && e.find("frobbed") != std::string::npos));
    // Unknown filters inside a conditional only fail when reached (as in jinja2).
    CHECK(render("{% if x %}{{ 1|nofilter }}{% endif %}ok") == "ok");
    CHECK(render("{{ 1|nofilter if x }}ok") == "ok");
    CHECK(error_of("{% if true %}{{ 1|nofilter }}{% endif %}").find("nofilter") != std::string::npos);
    // Malformed templates.
    const char *bad[] = {"{% if x %}never closed", "{% for %}{% endfor %}", "{{ 1 + }}", "{{ 'unterminated }}",
                         "{% endif %}", "{% if x %}{% endfor %}", "{{ (1 }}", "{{ [1, 2 }}", "{# open comment",
                         "{{ x", "{% set %}", "{% break %}", "{% frob %}", "{{ a.. }}", "{% raw %}no end",
                         "{{ 1 ? 2 }}", "{% for x in y %}{% else %}{% else %}{% endfor %}", "{% macro (a) %}{% endmacro %}",
                         "{% if x %}{% elif %}{% endif %}", "{{ }}"};
    for (const char *src : bad) {
        st = Status::ok;
        e = error_of(src, json::object(), &st);
        CHECK_MESSAGE(e.find("chat template line") != std::string::npos, "source: " << src << " → " << e);
        CHECK_MESSAGE(st == Status::format, "source: " << src);
    }
    e = error_of("line1\n  {{ 1 + }}");
    CHECK(e.find("line 2") != std::string::npos);
    CHECK(e.find("column") != std::string::npos);
}

TEST_CASE("jinja: limits on recursion, work and output") {
    Status st = Status::ok;
    std::string e = error_of("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", json::object(), &st);
    CHECK(st == Status::unsupported);
    CHECK(e.find("nested deeper") != std::string::npos);
    RenderOptions small;
    small.max_output_bytes = 1000;
    e = error_of("{% for i in range(10000) %}xxxxxxxxxx{% endfor %}", json::object(), &st, small);
    CHECK(e.find("exceeds the limit") != std::string::npos);
    e = error_of("{{ 'x' * 100000000000 }}", json::object(), &st);
    CHECK(e.find("too large") != std::string::npos);
    RenderOptions few;
    few.max_steps = 1000;
    e = error_of("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}", json::object(), &st, few);
    CHECK(e.find("steps") != std::string::npos);
    // Deeply nested expressions are refused at parse time rather than overflowing the stack.
    std::string deep = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
    e = error_of(deep, json::object(), &st);
    CHECK(e.find("nested too deeply") != std::string::npos);
    std::string nots = "{{ ";
    for (int k = 0; k < 5000; ++k) nots += "not ";
    e = error_of(nots + "1 }}", json::object(), &st);
    CHECK(e.find("nested too deeply") != std::string::npos);
}

TEST_CASE("chat: apply() and built-in templates") {
    const json msgs = {{{"role", "system"}, {"content", "Be brief."}},
                       {{"role", "user"}, {"content", "Hi"}},
                       {{"role", "assistant"}, {"content", "Hello!"}},
                       {{"role", "user"}, {"content", "Bye"}}};
    const char *gemma = corvid::chat::builtin_template_for("gemma3");
    REQUIRE(gemma != nullptr);
    auto t = Template::parse(gemma);
    CHECK(corvid::chat::apply(*t, msgs, json(), true, "<bos>", "<eos>") ==
          "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
          "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n");
    CHECK(corvid::chat::builtin_template_for("qwen2") == corvid::chat::builtin_template("chatml"));
    CHECK(corvid::chat::builtin_template_for("llama") == corvid::chat::builtin_template("llama3"));
    CHECK(corvid::chat::builtin_template_for("no-such-arch") == nullptr);
    CHECK(corvid::chat::builtin_template("no-such-template") == nullptr);
    // tools: null or [] both reach the template as None (as transformers passes them).
    auto probe = Template::parse("{{ tools is none }}|{{ documents is none }}|{{ extra_var }}");
    CHECK(corvid::chat::apply(*probe, json::array(), json::array(), false, "", "", json{{"extra_var", 7}}) == "True|True|7");
    CHECK_THROWS_AS(corvid::chat::apply(*probe, json::object(), json(), false, "", ""), corvid::Error);
}
