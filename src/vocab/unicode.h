// UTF-8 helpers and the GPT-2 byte <-> unicode mapping used by byte-level BPE vocabularies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace corvid::vocab {

// Length of the UTF-8 sequence that `lead` starts, judged by its high bits alone (1 for
// continuation bytes, 4 for F0..FF), so that any byte string splits into units. The
// SentencePiece-style tokenizer splits its text this way, exactly as llama.cpp does.
inline size_t utf8_seq_len(uint8_t lead) {
    static const uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return kLen[lead >> 4];
}

// Replaces each byte that does not start a well-formed sequence (a continuation byte where a
// lead is expected, F8..FF, or a sequence cut short) by U+FFFD, as llama.cpp's decoder does
// before byte-level BPE. Returns false (leaving `out` untouched) when `text` needs no change.
bool replace_invalid_utf8(std::string_view text, std::string &out);

// Appends the UTF-8 encoding of code point `cp` (<= 0x10FFFF) to `out`.
void append_utf8(std::string &out, uint32_t cp);

// Number of bytes at the end of `s` that form the start of a UTF-8 sequence whose remaining
// bytes have not arrived yet (0 when `s` ends on a complete or invalid sequence).
// For a well-formed-by-lead-byte text (the output of replace_invalid_utf8): copies it to `out`
// with every surrogate code point (ED A0..BF xx) and every code point above U+10FFFF replaced by
// a private-use character of the same byte length, which regular expressions classify the same
// way (not a letter, number, space or punctuation) but PCRE2 accepts as UTF-8. Returns false
// (leaving `out` untouched) when there is nothing to replace.
bool mask_unencodable(std::string_view text, std::string &out);

size_t utf8_incomplete_tail(std::string_view s);

// The GPT-2 byte-level alphabet: every byte value has a printable code point standing for it.
// byte_to_unicode(b) is that code point's UTF-8 text; unicode_to_byte(cp) the byte, or -1.
const std::string &byte_to_unicode(uint8_t b);
int unicode_to_byte(uint32_t cp);

// Maps raw bytes to their byte-level text (each byte becomes one code point).
std::string bytes_to_byte_level(std::string_view raw);

// Decodes byte-level text back to bytes. Code points outside the alphabet are copied through
// unchanged (as their UTF-8), which is what tokens that were never byte-encoded need.
void byte_level_to_bytes(std::string_view text, std::string &out);

} // namespace corvid::vocab
