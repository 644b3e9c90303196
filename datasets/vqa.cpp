// datasets/vqa.cpp — templated questions and answers about MNIST / Fashion-MNIST scenes (see vqa.h).
#include "datasets/vqa.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "datasets/captions.h"
#include "datasets/draws.h"

namespace sieve {

namespace {

struct Wordings {
  std::vector<std::string> train, held_out;
};

// Training and held-out wordings per kind (disjoint). {corner} is filled with the corner's name.
const std::map<std::string, Wordings>& wordings() {
  static const std::map<std::string, Wordings> table = {
      {"what", {{"what is this?", "what is in the image?", "what do you see?", "name the item."},
                {"what is shown here?", "what is pictured?"}}},
      {"even", {{"is the digit even?", "is this an even number?", "is the number even?"},
                {"is this digit even?", "is it an even digit?"}}},
      {"corner", {{"what is in the {corner} corner?", "what is at the {corner}?", "name the item in the {corner}."},
                  {"which item is in the {corner} corner?", "what can you see in the {corner} corner?"}}},
      {"count", {{"how many shoes are there?", "count the shoes.", "how many shoes are in the grid?"},
                 {"how many shoes do you see?", "what is the number of shoes?"}}},
      {"sum", {{"what is the sum of the digits?", "add up the digits.", "what do the four digits sum to?"},
               {"what do the digits add up to?", "what is the total of the digits?"}}},
      {"bag", {{"is there a bag?", "do you see a bag?", "does the grid contain a bag?"},
               {"is a bag in the picture?", "can you find a bag?"}}},
      {"caption", {{""}, {""}}},
  };
  return table;
}

const char* const kCorners[4] = {"top-left", "top-right", "bottom-left", "bottom-right"};

bool is_digit(int64_t label) { return label < 10; }
bool is_shoe(int64_t label) { return label == 15 || label == 17 || label == 19; }  // sandal, sneaker, ankle boot
constexpr int64_t kBag = 18;

// How a caption names a class: "the digit 7", "a sneaker", "an ankle boot".
std::string caption_name(int64_t label) {
  if (is_digit(label)) return "the digit " + std::to_string(label);
  const std::string word = vqa_class_name(label);
  const bool vowel = std::string("aeiouAEIOU").find(word[0]) != std::string::npos;
  return (vowel ? "an " : "a ") + word;
}

// Indices of the split's images by label (0–19), built once per call of draw_vqa's callers.
struct ByLabel {
  std::vector<std::vector<int64_t>> of = std::vector<std::vector<int64_t>>(20);
  explicit ByLabel(const std::vector<int64_t>& labels) {
    for (int64_t i = 0; i < static_cast<int64_t>(labels.size()); ++i) {
      SIEVE_CHECK(labels[i] >= 0 && labels[i] < 20, "vqa: label {} at image {} is not 0-19 (mnist+fashion-mnist)",
                  labels[i], i);
      of[static_cast<size_t>(labels[i])].push_back(i);
    }
  }
  // A random image among the labels `allowed` accepts, drawn label first (classes alike).
  template <typename Allowed>
  int64_t pick(data::Draws& draws, Allowed allowed, const std::string& kind) const {
    std::vector<int64_t> classes;
    for (int64_t c = 0; c < 20; ++c)
      if (allowed(c) && !of[static_cast<size_t>(c)].empty()) classes.push_back(c);
    SIEVE_CHECK(!classes.empty(), "vqa {}: the split has no image this question needs", kind);
    const auto& pool = of[static_cast<size_t>(classes[static_cast<size_t>(draws.below(std::ssize(classes)))])];
    return pool[static_cast<size_t>(draws.below(std::ssize(pool)))];
  }
};

VqaExample draw_one(const std::string& kind, const std::vector<int64_t>& labels, const ByLabel& by, uint64_t seed,
                    int64_t index, bool held_out) {
  const auto found = wordings().find(kind);
  SIEVE_CHECK(found != wordings().end(), "vqa: unknown question kind '{}' (known: {})", kind,
              fmt::join(kVqaKinds, ", "));
  data::Draws draws{data::derive_key(seed, static_cast<uint64_t>(index))};
  const auto any = [](int64_t) { return true; };
  VqaExample ex{.kind = kind};
  std::vector<int64_t>& cells = ex.cells;
  int64_t corner = 0;
  if (kind == "what") {
    cells = {by.pick(draws, any, kind)};
  } else if (kind == "even") {
    const bool even = draws.below(2) == 0;
    cells = {by.pick(draws, [even](int64_t c) { return is_digit(c) && (c % 2 == 0) == even; }, kind)};
  } else if (kind == "corner" || kind == "bag" || kind == "caption") {
    const bool single = kind == "caption" && draws.below(2) == 0;
    const bool with_bag = kind == "bag" && draws.below(2) == 0;
    for (int64_t i = 0; i < (single ? 1 : 4); ++i)
      cells.push_back(by.pick(draws, [kind](int64_t c) { return kind != "bag" || c != kBag; }, kind));
    if (with_bag) cells[static_cast<size_t>(draws.below(4))] = by.pick(draws, [](int64_t c) { return c == kBag; }, kind);
    corner = draws.below(4);
  } else if (kind == "count") {
    const int64_t shoes = draws.below(5);
    std::vector<bool> shoe(4, false);
    for (int64_t placed = 0; placed < shoes;) {
      const int64_t at = draws.below(4);
      if (!shoe[static_cast<size_t>(at)]) shoe[static_cast<size_t>(at)] = true, ++placed;
    }
    for (int64_t i = 0; i < 4; ++i) {
      const bool want = shoe[static_cast<size_t>(i)];
      cells.push_back(by.pick(draws, [want](int64_t c) { return is_shoe(c) == want; }, kind));
    }
  } else {  // sum
    for (int64_t i = 0; i < 4; ++i) cells.push_back(by.pick(draws, is_digit, kind));
  }
  const std::vector<std::string>& list = held_out ? found->second.held_out : found->second.train;
  ex.question = list[static_cast<size_t>(draws.below(std::ssize(list)))];
  const size_t slot = ex.question.find("{corner}");
  if (slot != std::string::npos) ex.question.replace(slot, 8, kCorners[corner]);
  std::vector<int64_t> cell_labels;
  for (int64_t c : cells) cell_labels.push_back(labels[static_cast<size_t>(c)]);
  ex.answer = vqa_answer(kind, cell_labels, corner);
  return ex;
}

}  // namespace

const std::vector<std::string>& vqa_wordings(const std::string& kind, bool held_out) {
  const auto found = wordings().find(kind);
  SIEVE_CHECK(found != wordings().end(), "vqa: unknown question kind '{}' (known: {})", kind,
              fmt::join(kVqaKinds, ", "));
  return held_out ? found->second.held_out : found->second.train;
}

std::string vqa_class_name(int64_t label) {
  SIEVE_CHECK(label >= 0 && label < 20, "vqa: class {} is not 0-19", label);
  if (is_digit(label)) return std::to_string(label);
  return concepts_of("fashion-mnist")[static_cast<size_t>(label - 10)].word;
}

std::string vqa_answer(const std::string& kind, const std::vector<int64_t>& labels, int64_t corner) {
  SIEVE_CHECK(!labels.empty(), "vqa {}: no cells", kind);
  if (kind == "what") return vqa_class_name(labels[0]);
  if (kind == "even") return labels[0] % 2 == 0 ? "yes" : "no";
  if (kind == "corner") return vqa_class_name(labels.at(static_cast<size_t>(corner)));
  if (kind == "count") return std::to_string(std::count_if(labels.begin(), labels.end(), is_shoe));
  if (kind == "bag") return std::find(labels.begin(), labels.end(), kBag) != labels.end() ? "yes" : "no";
  if (kind == "sum") {
    int64_t total = 0;
    for (int64_t l : labels) total += l;
    return std::to_string(total);
  }
  SIEVE_CHECK(kind == "caption", "vqa: unknown question kind '{}' (known: {})", kind, fmt::join(kVqaKinds, ", "));
  std::string text;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) text += i + 1 == labels.size() ? " and " : ", ";
    text += caption_name(labels[i]);
  }
  return text;
}

VqaExample draw_vqa(const std::string& kind, const std::vector<int64_t>& labels, uint64_t seed, int64_t index,
                    bool held_out) {
  return draw_one(kind, labels, ByLabel(labels), seed, index, held_out);
}

std::vector<VqaExample> vqa_set(const std::vector<std::string>& kinds, const std::vector<int64_t>& labels,
                                uint64_t seed, int64_t count, bool held_out) {
  SIEVE_CHECK(!kinds.empty(), "vqa: no question kinds");
  const ByLabel by(labels);
  std::vector<VqaExample> out;
  out.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i)
    out.push_back(draw_one(kinds[static_cast<size_t>(i) % kinds.size()], labels, by, seed, i, held_out));
  return out;
}

}  // namespace sieve
