// core/json_events.h — a strict, streaming JSON reader: it tells a handler what it reads (object and
// array starts and ends, keys, strings, numbers, literals) in one pass and builds no document.
//
// What it is: the reader under safetensors headers (core/safetensors.cpp), where a file may hold a
// million tensor entries and must still open in a fraction of a second. It accepts exactly RFC 8259
// JSON: no comments, no trailing commas, no control characters or invalid UTF-8 in strings, no lone
// surrogates in \u escapes, nothing after the value. A violation is a sieve::Error naming the file
// and the byte offset.
// What it is not: a JSON library. Configs and metadata go through nlohmann::json, whose documents
// are convenient and whose speed does not matter there; its own SAX reader spent half a second on
// the million-entry header (a character at a time through an input adapter, every token copied).
// Depth: the reader recurses once per open container and refuses more than kMaxJsonDepth; a handler
// that knows its structure refuses sooner by throwing from start_object/start_array.
// Extend: a new event is one handler method and one call below; keep every check before the call.
//
// The handler provides:
//   start_object()  end_object()  start_array()  end_array()
//   key(std::string&&)  string(std::string&&)  number(const JsonNumber&)  boolean(bool)  null()
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace sieve {

inline constexpr int kMaxJsonDepth = 64;

struct JsonNumber {
  enum Kind { whole, negative_whole, too_large, fraction };  // fraction: has '.' or an exponent
  Kind kind;
  uint64_t value;         // set for `whole` only
  std::string_view text;  // as written, for messages
};

template <typename Handler>
class JsonEvents {
 public:
  // `what` names the text in messages: "FILE: WHAT is not valid JSON: ... at byte N".
  JsonEvents(std::string_view text, const std::string& file, std::string_view what)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()), file_(file), what_(what) {}

  void read(Handler& h) {
    value(h, 0);
    skip_space();
    if (p_ != end_) fail("unexpected '{}' after the value", printable(std::string_view(p_, 1)));
  }

 private:
  void value(Handler& h, int depth) {
    skip_space();
    if (p_ == end_) fail("the text ends where a value should be");
    switch (*p_) {
      case '{': return object(h, depth + 1);
      case '[': return array(h, depth + 1);
      case '"': return h.string(string());
      case 't': literal("true"); return h.boolean(true);
      case 'f': literal("false"); return h.boolean(false);
      case 'n': literal("null"); return h.null();
      default: return h.number(number());
    }
  }

  void object(Handler& h, int depth) {
    if (depth > kMaxJsonDepth) fail("nested deeper than {} levels", kMaxJsonDepth);
    h.start_object();
    ++p_;
    if (skip_space(), accept('}')) return h.end_object();
    do {
      skip_space();
      if (p_ == end_ || *p_ != '"') fail("expected a key in double quotes");
      h.key(string());
      skip_space();
      expect(':');
      value(h, depth);
      skip_space();
    } while (accept(','));
    expect('}');
    h.end_object();
  }

  void array(Handler& h, int depth) {
    if (depth > kMaxJsonDepth) fail("nested deeper than {} levels", kMaxJsonDepth);
    h.start_array();
    ++p_;
    if (skip_space(), accept(']')) return h.end_array();
    do {
      value(h, depth);
      skip_space();
    } while (accept(','));
    expect(']');
    h.end_array();
  }

  // At an opening quote; returns the decoded string and leaves p_ after the closing quote.
  std::string string() {
    ++p_;
    std::string out;
    for (;;) {
      const char* run = p_;  // plain ASCII runs are copied in one go
      while (p_ != end_ && static_cast<unsigned char>(*p_) >= 0x20 && static_cast<unsigned char>(*p_) < 0x80 &&
             *p_ != '"' && *p_ != '\\')
        ++p_;
      out.append(run, p_);
      if (p_ == end_) fail("a string is not closed");
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return out;
      }
      if (c == '\\') {
        escape(out);
      } else if (c < 0x20) {
        fail("a control character (byte {:#04x}) inside a string", c);
      } else {
        utf8_sequence(out);
      }
    }
  }

  void escape(std::string& out) {
    if (++p_ == end_) fail("a string ends inside an escape");
    switch (*p_++) {
      case '"': return out.push_back('"');
      case '\\': return out.push_back('\\');
      case '/': return out.push_back('/');
      case 'b': return out.push_back('\b');
      case 'f': return out.push_back('\f');
      case 'n': return out.push_back('\n');
      case 'r': return out.push_back('\r');
      case 't': return out.push_back('\t');
      case 'u': break;
      default: --p_, fail("unknown escape '\\{}'", printable(std::string_view(p_, 1)));
    }
    uint32_t code = hex4();
    if (code >= 0xDC00 && code <= 0xDFFF) fail("a \\u escape is a low surrogate with no high one before it");
    if (code >= 0xD800 && code <= 0xDBFF) {  // a high surrogate: the low half must follow
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') fail("a \\u high surrogate is not followed by a low one");
      p_ += 2;
      const uint32_t low = hex4();
      if (low < 0xDC00 || low > 0xDFFF) fail("a \\u high surrogate is not followed by a low one");
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, code);
  }

  uint32_t hex4() {
    if (end_ - p_ < 4) fail("a \\u escape has fewer than 4 hex digits");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i, ++p_) {
      const char c = *p_;
      const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                      : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (digit < 0) fail("a \\u escape has a non-hex digit");
      v = v << 4 | static_cast<uint32_t>(digit);
    }
    return v;
  }

  static void append_utf8(std::string& out, uint32_t code) {
    if (code < 0x80) return out.push_back(static_cast<char>(code));
    if (code < 0x800) {
      out.push_back(static_cast<char>(0xC0 | code >> 6));
    } else if (code < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | code >> 12));
      out.push_back(static_cast<char>(0x80 | (code >> 6 & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | code >> 18));
      out.push_back(static_cast<char>(0x80 | (code >> 12 & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code >> 6 & 0x3F)));
    }
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  }

  // One multi-byte UTF-8 character, checked as RFC 3629 defines it: no overlong forms, no
  // surrogates, nothing past U+10FFFF.
  void utf8_sequence(std::string& out) {
    const auto lead = static_cast<unsigned char>(*p_);
    const int extra = lead >= 0xC2 && lead <= 0xDF ? 1 : lead >= 0xE0 && lead <= 0xEF ? 2 : lead >= 0xF0 && lead <= 0xF4 ? 3 : -1;
    if (extra < 0 || end_ - p_ <= extra) fail("a string holds invalid UTF-8 (byte {:#04x})", lead);
    const auto second = static_cast<unsigned char>(p_[1]);
    const unsigned char low = lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;
    const unsigned char high = lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
    bool ok = second >= low && second <= high;
    for (int i = 2; i <= extra; ++i) ok = ok && (static_cast<unsigned char>(p_[i]) & 0xC0) == 0x80;
    if (!ok) fail("a string holds invalid UTF-8 (byte {:#04x})", lead);
    out.append(p_, p_ + extra + 1);
    p_ += extra + 1;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  JsonNumber number() {
    const char* start = p_;
    const bool negative = accept('-');
    if (p_ == end_ || !digit(*p_)) fail("unexpected '{}' where a value should be", printable(std::string_view(start, 1)));
    uint64_t value = 0;
    bool overflow = false;
    if (*p_ == '0' && p_ + 1 != end_ && digit(p_[1])) fail("a number has a leading zero");
    for (; p_ != end_ && digit(*p_); ++p_)
      overflow |= __builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, *p_ - '0', &value);
    bool fraction = false;
    if (accept('.')) {
      fraction = true;
      if (p_ == end_ || !digit(*p_)) fail("a number has no digits after its '.'");
      while (p_ != end_ && digit(*p_)) ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      fraction = true;
      ++p_;
      if (!accept('+')) accept('-');
      if (p_ == end_ || !digit(*p_)) fail("a number has no digits in its exponent");
      while (p_ != end_ && digit(*p_)) ++p_;
    }
    const std::string_view text(start, static_cast<size_t>(p_ - start));
    if (fraction) return {JsonNumber::fraction, 0, text};
    if (negative) return {JsonNumber::negative_whole, 0, text};
    if (overflow) return {JsonNumber::too_large, 0, text};
    return {JsonNumber::whole, value, text};
  }

  void literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word)
      fail("unexpected '{}' where a value should be", printable(std::string_view(p_, 1)));
    p_ += word.size();
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }
  void skip_space() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool accept(char c) {
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  void expect(char c) {
    if (!accept(c))
      fail("expected '{}' but found {}", c, p_ == end_ ? "the end" : fmt::format("'{}'", printable(std::string_view(p_, 1))));
  }

  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    fail_file(file_, "{} is not valid JSON: {} at byte {}", what_, fmt::format(format, std::forward<Args>(args)...),
              p_ - begin_);
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  const std::string& file_;
  std::string_view what_;
};

}  // namespace sieve
