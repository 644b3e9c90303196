// tests/datasets/test_vqa.cpp — the generated questions and answers of datasets/vqa.h: answers
// recomputed here from the cells' class names, held-out wordings never used in training, scenes
// of the right size, balanced draws, reproducibility by (seed, index), and one-line errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>

#include "datasets/vqa.h"
#include "tests/helpers.h"

using namespace sieve;

namespace {

// A fake split: `per_class` images of each of the 20 classes, interleaved.
std::vector<int64_t> fake_labels(int64_t per_class = 7) {
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < per_class; ++i)
    for (int64_t c = 0; c < 20; ++c) labels.push_back(c);
  return labels;
}

// The answer written out again from the class names, independently of vqa_answer's arithmetic.
std::string expected_answer(const VqaExample& ex, const std::vector<int64_t>& labels) {
  std::vector<std::string> names;
  for (int64_t c : ex.cells) names.push_back(vqa_class_name(labels[static_cast<size_t>(c)]));
  const auto count = [&](std::initializer_list<const char*> which) {
    int64_t n = 0;
    for (const std::string& name : names)
      for (const char* w : which) n += name == w;
    return n;
  };
  if (ex.kind == "what") return names[0];
  if (ex.kind == "even") return std::stoi(names[0]) % 2 == 0 ? "yes" : "no";
  if (ex.kind == "count") return std::to_string(count({"sandal", "sneaker", "ankle boot"}));
  if (ex.kind == "bag") return count({"bag"}) > 0 ? "yes" : "no";
  if (ex.kind == "sum") {
    int total = 0;
    for (const std::string& name : names) total += std::stoi(name);
    return std::to_string(total);
  }
  if (ex.kind == "corner") {
    const char* corners[] = {"top-left", "top-right", "bottom-left", "bottom-right"};
    for (int i = 0; i < 4; ++i)
      if (test::contains(ex.question, corners[i])) return names[static_cast<size_t>(i)];
    return "?";
  }
  return "";  // caption: checked separately
}

}  // namespace

TEST_CASE("vqa: held-out wordings are disjoint from training ones, for every kind") {
  for (const std::string& kind : kVqaKinds) {
    if (kind == "caption") continue;
    INFO(kind);
    const auto& train = vqa_wordings(kind, false);
    const auto& held = vqa_wordings(kind, true);
    CHECK(train.size() >= 2);
    CHECK(held.size() >= 2);
    for (const std::string& w : held) CHECK(std::find(train.begin(), train.end(), w) == train.end());
  }
}

TEST_CASE("vqa: every answer is right for its scene, scenes have 1 or 4 cells, questions come from their list") {
  const std::vector<int64_t> labels = fake_labels();
  for (bool held_out : {false, true}) {
    const std::vector<VqaExample> set = vqa_set(kVqaKinds, labels, 3, 700, held_out);
    for (const VqaExample& ex : set) {
      INFO(ex.kind, ": ", ex.question, " → ", ex.answer);
      const bool single = ex.kind == "what" || ex.kind == "even";
      if (ex.kind == "caption")
        CHECK((ex.cells.size() == 1 || ex.cells.size() == 4));
      else
        CHECK(ex.cells.size() == (single ? 1u : 4u));
      if (ex.kind != "caption") CHECK(ex.answer == expected_answer(ex, labels));
      // The question is one of the list's wordings (corner's with its corner filled in).
      bool listed = false;
      for (std::string w : vqa_wordings(ex.kind, held_out)) {
        for (const char* c : {"top-left", "top-right", "bottom-left", "bottom-right"}) {
          std::string filled = w;
          const size_t at = filled.find("{corner}");
          if (at != std::string::npos) filled.replace(at, 8, c);
          listed = listed || filled == ex.question;
        }
      }
      CHECK(listed);
      if (ex.kind == "even" || ex.kind == "sum")
        for (int64_t c : ex.cells) CHECK(labels[static_cast<size_t>(c)] < 10);
    }
  }
  // Captions name every cell in reading order.
  CHECK(vqa_answer("caption", {7, 17, 8, 19}) == "the digit 7, a sneaker, the digit 8 and an ankle boot");
  CHECK(vqa_answer("caption", {10}) == "a T-shirt");
}

TEST_CASE("vqa: draws are balanced where chance would not be, and reproducible by (seed, index)") {
  const std::vector<int64_t> labels = fake_labels();
  std::map<std::string, int> counts;
  const int n = 1000;
  for (const std::string kind : {"count", "bag", "even"}) {
    const std::vector<VqaExample> set = vqa_set({kind}, labels, 11, n, false);
    for (const VqaExample& ex : set) ++counts[kind + ":" + ex.answer];
  }
  for (int k = 0; k <= 4; ++k) {
    INFO("shoes ", k, ": ", counts["count:" + std::to_string(k)]);
    CHECK(counts["count:" + std::to_string(k)] > n / 5 - 70);
    CHECK(counts["count:" + std::to_string(k)] < n / 5 + 70);
  }
  for (const std::string kind : {"bag", "even"}) {
    INFO(kind, " yes ", counts[kind + ":yes"]);
    CHECK(counts[kind + ":yes"] > n / 2 - 80);
    CHECK(counts[kind + ":yes"] < n / 2 + 80);
  }
  // Example i depends only on (seed, i).
  const std::vector<VqaExample> set = vqa_set({"corner"}, labels, 5, 30, true);
  const VqaExample again = draw_vqa("corner", labels, 5, 17, true);
  CHECK(again.cells == set[17].cells);
  CHECK(again.question == set[17].question);
  CHECK(vqa_set({"corner"}, labels, 6, 30, true)[17].cells != set[17].cells);
}

TEST_CASE("vqa: an unknown kind or a split without the images a question needs is one line") {
  CHECK(test::contains(test::error_of([] { vqa_set({"color"}, fake_labels(), 1, 3, false); }),
                       "unknown question kind 'color' (known: what, even, corner, count, sum, bag, caption)"));
  const std::vector<int64_t> garments_only = {10, 11, 12, 15, 18};
  CHECK(test::contains(test::error_of([&] { vqa_set({"sum"}, garments_only, 1, 3, false); }),
                       "vqa sum: the split has no image this question needs"));
  CHECK(test::contains(test::error_of([] { vqa_set({"what"}, {3, 25}, 1, 3, false); }), "label 25 at image 1"));
}
