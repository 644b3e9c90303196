// tests/core/test_json_events.cpp — the streaming JSON reader under safetensors headers
// (core/json_events.h): the documents it rebuilds equal nlohmann's, and it accepts or refuses
// exactly what nlohmann does, over hand-picked edge cases and thousands of mutated documents.
//
// Not here: what a safetensors header may contain (tests/core/test_safetensors.cpp).
// Extend: an edge case is one line in the accepted or refused list.
#include <cerrno>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "core/json_events.h"
#include "tests/helpers.h"

using namespace sieve;
using json = nlohmann::json;

namespace {

// Rebuilds the document from the events, so it can be compared with nlohmann's parse.
struct Rebuild {
  json root;
  std::vector<json*> open;  // the containers being filled, innermost last
  std::string pending_key;

  json& place(json value) {
    if (open.empty()) return root = std::move(value);
    json& c = *open.back();
    if (c.is_array()) return c.emplace_back(std::move(value));
    return c[pending_key] = std::move(value);
  }
  void start_object() { open.push_back(&place(json::object())); }
  void start_array() { open.push_back(&place(json::array())); }
  void end_object() { open.pop_back(); }
  void end_array() { open.pop_back(); }
  void key(std::string&& k) { pending_key = std::move(k); }
  void string(std::string&& s) { place(std::move(s)); }
  void boolean(bool b) { place(b); }
  void null() { place(nullptr); }
  void number(const JsonNumber& n) {
    switch (n.kind) {
      case JsonNumber::whole: place(n.value); break;
      case JsonNumber::negative_whole: {  // as nlohmann: an integer below INT64_MIN becomes a double
        errno = 0;
        const long long v = std::strtoll(std::string(n.text).c_str(), nullptr, 10);
        errno == ERANGE ? place(std::strtod(std::string(n.text).c_str(), nullptr)) : place(static_cast<int64_t>(v));
        break;
      }
      default: place(std::strtod(std::string(n.text).c_str(), nullptr)); break;
    }
  }
};

// nullopt when the reader refuses the text (and then the message must be one line naming the file).
std::optional<json> read_events(const std::string& text) {
  Rebuild r;
  try {
    JsonEvents<Rebuild>(text, "doc.json", "document").read(r);
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO("message: ", msg);
    CHECK(msg.rfind("doc.json: document is not valid JSON: ", 0) == 0);
    CHECK(msg.find('\n') == std::string::npos);
    return std::nullopt;
  }
  return r.root;
}

// nlohmann's verdict. A number too large for a double (1e999) is valid JSON that nlohmann alone
// refuses (out_of_range), and it stops there without reading on, so such a text has no verdict.
std::optional<json> read_nlohmann(const std::string& text, bool* unrepresentable) {
  *unrepresentable = false;
  try {
    return json::parse(text);
  } catch (const json::out_of_range&) {
    *unrepresentable = true;
    return json(nullptr);
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

// A random document of nested objects, arrays, strings (with escapes and multi-byte UTF-8),
// numbers of every form and literals.
json random_value(std::mt19937& rng, int depth) {
  const int kind = std::uniform_int_distribution<int>(0, depth > 3 ? 5 : 7)(rng);
  const std::vector<std::string> strings{"", "a", "dtype", "q\"uote", "back\\slash", "tab\tnew\nline",
                                         "\x01", "é", "日本", "😀", "/", "\u007f"};
  switch (kind) {
    case 0: return nullptr;
    case 1: return std::uniform_int_distribution<int>(0, 1)(rng) == 1;
    case 2: return std::uniform_int_distribution<uint64_t>(0, UINT64_MAX >> std::uniform_int_distribution<int>(0, 63)(rng))(rng);
    case 3: return -std::uniform_int_distribution<int64_t>(1, INT64_MAX >> std::uniform_int_distribution<int>(0, 62)(rng))(rng);
    case 4: return std::uniform_real_distribution<double>(-1e6, 1e6)(rng) * std::pow(10.0, std::uniform_int_distribution<int>(-30, 30)(rng));
    case 5: return strings[std::uniform_int_distribution<size_t>(0, strings.size() - 1)(rng)];
    case 6: {
      json a = json::array();
      for (int i = std::uniform_int_distribution<int>(0, 4)(rng); i > 0; --i) a.push_back(random_value(rng, depth + 1));
      return a;
    }
    default: {
      json o = json::object();
      for (int i = std::uniform_int_distribution<int>(0, 4)(rng); i > 0; --i)
        o[strings[std::uniform_int_distribution<size_t>(0, strings.size() - 1)(rng)] + std::to_string(i)] =
            random_value(rng, depth + 1);
      return o;
    }
  }
}

}  // namespace

TEST_CASE("json events: edge cases are accepted or refused as RFC 8259 says") {
  const std::vector<std::string> accepted{
      "0", "-0", "1e5", "1E+5", "-1.5e-3", "18446744073709551615", "18446744073709551616", "[]", "{}",
      " \t\r\n[ 1 , 2 ]\n", R"("\u00e9\ud83d\ude00\/\b\f\n\r\t\"\\")", "\"日本\"", "true", "null", "[false]",
      R"({"a":{"b":[1,{"c":null}]}})", "\"\xf4\x8f\xbf\xbf\""};
  const std::vector<std::string> refused{
      "", " ", "[1,]", "{\"a\":1,}", "01", "-", "+1", ".5", "1.", "1e", "1e+", "NaN", "Infinity", "tru",
      "nul", "[1 2]", "{\"a\" 1}", "{a:1}", "'a'", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"",
      "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\x01\"", "\"\xff\"", "\"\xc0\xaf\"", "\"\xe0\x80\xaf\"",
      "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xc3\"", "[1] 2", "{} {}", "[", "]", "{\"a\":}",
      std::string(65, '[') + std::string(65, ']')};
  for (const std::string& text : accepted) {
    INFO("text: ", text);
    const auto ours = read_events(text);
    REQUIRE(ours.has_value());
    CHECK(*ours == json::parse(text));
  }
  for (const std::string& text : refused) {
    INFO("text: ", printable(text));
    CHECK_FALSE(read_events(text).has_value());
  }
  CHECK(read_events(std::string(64, '[') + std::string(64, ']')).has_value());  // the depth limit itself
}

TEST_CASE("json events: random documents rebuild to nlohmann's, and mutated ones are judged alike") {
  std::mt19937 rng(20261207);
  int refused = 0;
  for (int round = 0; round < 20000; ++round) {
    const json doc = random_value(rng, 0);
    std::string text = doc.dump(std::uniform_int_distribution<int>(0, 1)(rng) ? 1 : -1);
    const auto ours = read_events(text);
    REQUIRE(ours.has_value());
    CHECK(*ours == doc);
    // One byte changed, deleted or inserted: both readers must agree on accepting it, and on the
    // document when they do.
    if (text.empty()) continue;
    const size_t at = std::uniform_int_distribution<size_t>(0, text.size() - 1)(rng);
    const std::string_view bytes = "{}[]\",:0-.eE+\\u \x80\xc3\x01tfn";  // no NUL: nlohmann takes it as the end
    const char byte = bytes[std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(rng)];
    switch (std::uniform_int_distribution<int>(0, 2)(rng)) {
      case 0: text[at] = byte; break;
      case 1: text.erase(at, 1); break;
      default: text.insert(at, 1, byte); break;
    }
    INFO("mutated: ", printable(text));
    const auto mutated = read_events(text);
    bool unrepresentable = false;
    const auto reference = read_nlohmann(text, &unrepresentable);
    if (unrepresentable) continue;
    REQUIRE(mutated.has_value() == reference.has_value());
    if (mutated) CHECK(*mutated == *reference);
    refused += !mutated.has_value();
  }
  CHECK(refused > 6000);  // most mutations break a document; the comparison above is not vacuous
}
