// datasets/captions.cpp — class concepts, caption templates and byte tokens (see captions.h).
#include "datasets/captions.h"

#include "core/error.h"

namespace sieve {

namespace {

const std::vector<Concept>& digits() {
  static const std::vector<Concept> d = {{"zero", "0"}, {"one", "1"}, {"two", "2"}, {"three", "3"}, {"four", "4"},
                                         {"five", "5"}, {"six", "6"}, {"seven", "7"}, {"eight", "8"}, {"nine", "9"}};
  return d;
}

const std::vector<Concept>& garments() {
  // Fashion-MNIST's labels 0–9 ("T-shirt/top" is named by its first word).
  static const std::vector<Concept> g = {{"T-shirt", ""}, {"trouser", ""}, {"pullover", ""}, {"dress", ""},
                                         {"coat", ""},    {"sandal", ""},  {"shirt", ""},    {"sneaker", ""},
                                         {"bag", ""},     {"ankle boot", ""}};
  return g;
}

const std::vector<Concept>& cifar10_classes() {
  static const std::vector<Concept> c = {{"airplane", ""}, {"automobile", ""}, {"bird", ""}, {"cat", ""},
                                         {"deer", ""},     {"dog", ""},        {"frog", ""}, {"horse", ""},
                                         {"ship", ""},     {"truck", ""}};
  return c;
}

// Training templates teach the text encoder; held-out ones only ever build zero-shot classifiers.
const std::vector<std::string> kDigitTrain = {
    "a photo of the digit {word}", "a handwritten {numeral}", "the number {word}", "an image of the digit {numeral}",
    "a drawing of a {word}",       "{numeral}",               "the handwritten number {word}",
    "a scan of the digit {numeral}"};
const std::vector<std::string> kDigitHeldOut = {"a picture of the number {numeral}", "a handwritten digit {word}",
                                                "this is a {numeral}", "an image of the number {word}"};
const std::vector<std::string> kObjectTrain = {"a photo of {a_word}",        "a picture of {a_word}",
                                               "{a_word}",                   "an image of {a_word}",
                                               "a product photo of {a_word}", "a grayscale photo of {a_word}",
                                               "{word}",                     "a small {word}"};
const std::vector<std::string> kObjectHeldOut = {"a photo of the {word}", "a blurry picture of {a_word}",
                                                 "this is {a_word}", "an image of the {word}"};

void replace_all(std::string& text, const std::string& key, const std::string& value) {
  for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
    text.replace(at, key.size(), value);
}

}  // namespace

std::vector<Concept> concepts_of(const std::string& dataset, const std::vector<std::string>& names) {
  if (dataset == "mnist") return digits();
  if (dataset == "fashion-mnist") return garments();
  if (dataset == "mnist+fashion-mnist") {
    std::vector<Concept> both = digits();
    both.insert(both.end(), garments().begin(), garments().end());
    return both;
  }
  if (dataset == "cifar10") return cifar10_classes();
  SIEVE_CHECK(!names.empty(), "dataset '{}' has no class names to caption", printable(dataset, 64));
  std::vector<Concept> out;
  for (const std::string& name : names) out.push_back({name, ""});
  return out;
}

const std::vector<std::string>& caption_templates(bool digits, bool held_out) {
  if (digits) return held_out ? kDigitHeldOut : kDigitTrain;
  return held_out ? kObjectHeldOut : kObjectTrain;
}

std::string fill_template(const std::string& templ, const Concept& named) {
  const char first = named.word.empty() ? 'x' : named.word[0];
  const bool vowel = std::string("aeiouAEIOU").find(first) != std::string::npos;
  std::string text = templ;
  replace_all(text, "{a_word}", (vowel ? "an " : "a ") + named.word);
  replace_all(text, "{word}", named.word);
  replace_all(text, "{numeral}", named.numeral);
  return text;
}

std::vector<std::vector<std::string>> class_captions(const std::vector<Concept>& concepts, bool held_out) {
  std::vector<std::vector<std::string>> out;
  for (const Concept& c : concepts) {
    std::vector<std::string> texts;
    for (const std::string& t : caption_templates(c.is_digit(), held_out)) texts.push_back(fill_template(t, c));
    out.push_back(std::move(texts));
  }
  return out;
}

EncodedTexts encode_texts(const std::vector<std::string>& texts, int64_t context, const std::string& what) {
  SIEVE_CHECK(context >= 3, "{}: a text context of {} tokens holds no text (start and end take 2)", what, context);
  SIEVE_CHECK(!texts.empty(), "{}: no texts", what);
  const int64_t n = static_cast<int64_t>(texts.size());
  std::vector<int64_t> tokens(static_cast<size_t>(n * context), kTextPad), ends(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const std::string& text = texts[static_cast<size_t>(i)];
    const int64_t bytes = static_cast<int64_t>(text.size());
    SIEVE_CHECK(bytes > 0, "{}: text {} is empty", what, i);
    SIEVE_CHECK(bytes + 2 <= context, "{}: '{}' is {} bytes; the text context holds {} (context {} minus start and end)",
                what, printable(text, 80), bytes, context - 2, context);
    int64_t* row = tokens.data() + i * context;
    row[0] = kTextStart;
    for (int64_t b = 0; b < bytes; ++b) row[b + 1] = static_cast<unsigned char>(text[static_cast<size_t>(b)]);
    row[bytes + 1] = kTextEnd;
    ends[static_cast<size_t>(i)] = bytes + 1;
  }
  return {from_vector<int64_t>(tokens, {n, context}), from_vector<int64_t>(ends, {n})};
}

}  // namespace sieve
