// Splits a chat template into tokens the way jinja2's lexer does with trim_blocks=True and
// lstrip_blocks=True: template data, {{ }} / {% %} delimiters, and the expression tokens inside
// them. Comments disappear here, {% raw %} becomes data, whitespace control (- and +) is applied.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace corvid::chat {

enum class Tok : uint8_t { data, var_begin, var_end, block_begin, block_end, name, string, integer, floating, op, eof };

struct Token {
    Tok type;
    std::string text;  // data, name, operator, or the decoded string literal
    int line = 1;
    int col = 1;
    int64_t ival = 0;
    double fval = 0;
};

// Throws corvid::Error (Status::format) naming line and column on a lexical error.
std::vector<Token> lex(const std::string &source);

}  // namespace corvid::chat
