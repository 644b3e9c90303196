// datasets/vqa.h — questions and answers about MNIST and Fashion-MNIST images, generated from
// templates, for the small LLaVA (models/vlm.h); and the captions its first stage trains on.
//
// A scene is one 28×28 image or a 2×2 grid of four (56×56; cells in reading order: top-left,
// top-right, bottom-left, bottom-right) from one split of mnist+fashion-mnist (labels 0–9 the
// digits, 10–19 the garments, as datasets/captions.h). Each example asks one question of one kind:
//
//   kind     scene                  a question (one of its wordings)      answer
//   what     one image              "what is this?"                       "7", "sneaker"
//   even     one digit              "is the digit even?"                  "yes" / "no"
//   corner   grid                   "what is in the top-left corner?"     "7", "sneaker"
//   count    grid                   "how many shoes are there?"           "0" … "4"
//   sum      grid of four digits    "what is the sum of the digits?"      "0" … "36"
//   bag      grid                   "is there a bag?"                     "yes" / "no"
//   caption  one image or a grid    "" (stage 1: no question)             "a 7", "a 7, a sneaker,
//                                                                         a 3 and a bag"
// Shoes are sandals, sneakers and ankle boots. Draws are balanced where chance would not be: count
// picks the number of shoes first (0–4, uniform), bag puts a bag in the grid half of the time,
// even draws even and odd digits alike.
//
// Every kind has training wordings and held-out ones, disjoint (a test checks): training examples
// use the first, test examples only the second, so test accuracy is on questions never seen.
// Example i of a set depends only on (seed, i): the same seed gives the same examples in any
// order, and train and test sets draw from their own split's images.
//
// What it is not: the images (an example names its cells by index into the split; the model reads
// them through its tower), a tokenizer (texts are bytes, datasets/captions.h) or free-form answers.
// Extend: a new question kind is a name in kVqaKinds, its wordings in vqa.cpp and a case in
// draw_vqa (its scene and its answer from the cells' labels).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sieve {

inline const std::vector<std::string> kVqaKinds = {"what", "even", "corner", "count", "sum", "bag", "caption"};

struct VqaExample {
  std::string kind = {};
  std::vector<int64_t> cells = {};  // indices into the split: 1 (one image) or 4 (a grid, reading order)
  std::string question = {};        // "" for a caption
  std::string answer = {};
};

// The wordings of a kind's question: training or held out. "caption" has none ("" is its question).
const std::vector<std::string>& vqa_wordings(const std::string& kind, bool held_out);

// The answer to `kind` for cells with these labels (0–19), and for corner the cell asked about
// (0–3); the single source of truth draw_vqa and the tests share.
std::string vqa_answer(const std::string& kind, const std::vector<int64_t>& labels, int64_t corner = 0);

// Example `index` of a set: kind, images drawn from `labels` (the split's, 0–19), a wording from
// the training or held-out list. An unknown kind or a split without the images it needs (no
// digit for even) is an error naming it.
VqaExample draw_vqa(const std::string& kind, const std::vector<int64_t>& labels, uint64_t seed, int64_t index,
                    bool held_out);

// `count` examples cycling through `kinds` in order (example i asks kinds[i % kinds.size()]).
std::vector<VqaExample> vqa_set(const std::vector<std::string>& kinds, const std::vector<int64_t>& labels,
                                uint64_t seed, int64_t count, bool held_out);

// "7" or "sneaker": how answers name a class (0–19).
std::string vqa_class_name(int64_t label);

}  // namespace sieve
