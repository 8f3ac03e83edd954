// The syntax tree of a parsed chat template: one node type for expressions and statements.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chat/value.h"

namespace corvid::chat {

enum class NK : uint8_t {
    // expressions
    literal,      // value
    name,         // name
    list,         // kids = items
    tuple,        // kids = items
    dict,         // kids = key, value, key, value, ...
    getattr,      // kids[0] . name
    getitem,      // kids[0] [ kids[1] ]
    slice,        // kids[0] [ kids[1] : kids[2] : kids[3] ] (null = omitted)
    call,         // kids[0] ( kids[1..] ), argnames[k] = keyword of kids[k+1] ("" = positional)
    filter,       // kids[0] | name ( kids[1..] ), argnames as for call; unknown = check at run time
    test,         // kids[0] is [not] name ( kids[1..] ); negated
    unary,        // name in {"not", "-", "+"}, kids[0]
    binop,        // kids[0] name kids[1]; name in + - * / // % ** ~ and or
    compare,      // kids[0] argnames[0] kids[1] argnames[1] kids[2] ...
    cond,         // kids[1] if kids[0] else kids[2] (kids[2] may be null)
    block_input,  // the rendered body a {% filter %} or {% set x | f %} block applies filters to
    // statements
    text,         // name = literal template data
    output,       // {{ kids[0] }}
    if_,          // kids = conditions; bodies = branches (one more than kids when there is an else)
    for_,         // argnames = targets; kids[0] = iterable; kids[1] = filter (or null); bodies = body, else
    set,          // argnames = targets, or {namespace} with attr; kids[0] = value
    set_block,    // argnames[0] = target; kids[0] = filter chain (or null); bodies[0]
    macro,        // name; argnames = params; kids = defaults (null = none); bodies[0]
    call_block,   // kids[0] = call; argnames = caller params; kids[1..] = their defaults; bodies[0]
    filter_block, // kids[0] = filter chain; bodies[0]
    break_,
    continue_,
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
    NK kind;
    int line = 0;
    std::string name;
    std::string attr;  // set: namespace attribute target
    Value value;
    std::vector<NodePtr> kids;
    std::vector<std::string> argnames;
    std::vector<Body> bodies;
    bool negated = false;
    bool unknown = false;  // filter/test not known at parse time (inside a conditional): fails if reached

    Node(NK k, int l) : kind(k), line(l) {}
};

// Parses the token stream of lex(); throws corvid::Error naming the line on a syntax error or an
// unsupported construct (extends, include, import, ...).
Body parse_template(const std::string &source);

}  // namespace corvid::chat
