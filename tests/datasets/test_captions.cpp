// tests/datasets/test_captions.cpp — the classes' concepts, caption templates (held-out ones never
// seen in training), and UTF-8 byte tokens with their end positions and one-line errors.
#include <set>

#include "datasets/captions.h"
#include "tests/helpers.h"

using namespace sieve;

TEST_CASE("captions: concepts of every dataset, in label order") {
  CHECK(concepts_of("mnist").size() == 10);
  CHECK(concepts_of("mnist")[7].word == "seven");
  CHECK(concepts_of("mnist")[7].numeral == "7");
  CHECK(concepts_of("fashion-mnist")[9].word == "ankle boot");
  CHECK_FALSE(concepts_of("fashion-mnist")[9].is_digit());
  const std::vector<Concept> both = concepts_of("mnist+fashion-mnist");
  REQUIRE(both.size() == 20);
  CHECK(both[3].word == "three");
  CHECK(both[10].word == "T-shirt");  // garments from label 10, in Fashion-MNIST's order
  CHECK(both[19].word == "ankle boot");
  CHECK(concepts_of("cifar10")[1].word == "automobile");
  CHECK(concepts_of("folder", {"cat", "owl"})[1].word == "owl");
  CHECK_THROWS_WITH_AS(concepts_of("folder"), doctest::Contains("no class names"), Error);
}

TEST_CASE("captions: templates filled in with words, numerals and articles") {
  const Concept seven{"seven", "7"}, boot{"ankle boot", ""}, shirt{"T-shirt", ""};
  CHECK(fill_template("a handwritten {numeral}", seven) == "a handwritten 7");
  CHECK(fill_template("the number {word}", seven) == "the number seven");
  CHECK(fill_template("a photo of {a_word}", boot) == "a photo of an ankle boot");
  CHECK(fill_template("a photo of {a_word}", shirt) == "a photo of a T-shirt");
  CHECK(fill_template("{word} and {word}", shirt) == "T-shirt and T-shirt");
}

TEST_CASE("captions: no held-out caption is ever a training caption") {
  for (bool digits : {true, false}) {
    const auto& train = caption_templates(digits, false);
    const auto& held = caption_templates(digits, true);
    CHECK(train.size() >= 4);
    CHECK(held.size() >= 3);
    for (const std::string& t : held) CHECK_MESSAGE(std::find(train.begin(), train.end(), t) == train.end(), t);
  }
  for (const char* dataset : {"mnist+fashion-mnist", "cifar10"}) {
    const std::vector<Concept> concepts = concepts_of(dataset);
    const auto train = class_captions(concepts, false), held = class_captions(concepts, true);
    std::set<std::string> seen;
    for (const auto& texts : train) seen.insert(texts.begin(), texts.end());
    for (size_t c = 0; c < held.size(); ++c) {
      CHECK(held[c].size() == caption_templates(concepts[c].is_digit(), true).size());
      for (const std::string& text : held[c]) CHECK_MESSAGE(!seen.count(text), dataset, ": ", text);
    }
  }
}

TEST_CASE("captions: every caption fits the default context of 48 tokens") {
  for (const char* dataset : {"mnist+fashion-mnist", "cifar10"})
    for (bool held_out : {false, true})
      for (const auto& texts : class_captions(concepts_of(dataset), held_out))
        for (const std::string& text : texts) CHECK_MESSAGE(text.size() + 2 <= 48, text);
}

TEST_CASE("captions: byte tokens, the end positions and the padding") {
  const EncodedTexts enc = encode_texts({"ab", "\xc3\xa9"}, 6, "test");  // "é" is two UTF-8 bytes
  CHECK(enc.tokens.shape() == Shape{2, 6});
  CHECK(enc.tokens.to_vector<int64_t>() ==
        std::vector<int64_t>{kTextStart, 'a', 'b', kTextEnd, kTextPad, kTextPad, kTextStart, 0xc3, 0xa9, kTextEnd,
                             kTextPad, kTextPad});
  CHECK(enc.ends.to_vector<int64_t>() == std::vector<int64_t>{3, 3});
  CHECK(encode_texts({"abcd"}, 6, "test").ends.to_vector<int64_t>()[0] == 5);  // exactly fills the context
  CHECK_THROWS_WITH_AS(encode_texts({"abcde"}, 6, "--labels"),
                       doctest::Contains("--labels: 'abcde' is 5 bytes; the text context holds 4"), Error);
  CHECK_THROWS_WITH_AS(encode_texts({"ok", ""}, 6, "--labels"), doctest::Contains("--labels: text 1 is empty"), Error);
  CHECK_THROWS_WITH_AS(encode_texts({}, 6, "--labels"), doctest::Contains("no texts"), Error);
}
