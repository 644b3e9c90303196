// datasets/captions.h — the texts a CLIP-style model learns to match with images: each class's
// name, captions drawn from templates, and the texts as UTF-8 byte tokens.
//
// A class is a Concept: a word ("seven", "ankle boot") and, for digits, its numeral ("7").
// Templates turn a concept into captions: "a handwritten {numeral}", "a photo of {a_word}"
// ({word}, {numeral}, and {a_word}: the word with "a" or "an"). Each kind (digits, objects) has
// training templates and a disjoint set of held-out templates: a model trains on the first, and
// its zero-shot classifier is built from the second only (open_clip's ensembling: a class's
// embedding is the mean of its held-out captions' embeddings), so zero-shot accuracy measures
// captions the text encoder never saw.
//
//   dataset               classes
//   mnist                 10 digits, "zero" … "nine"
//   fashion-mnist         10 garments: T-shirt, trouser, pullover, dress, coat, sandal, shirt,
//                         sneaker, bag, ankle boot
//   mnist+fashion-mnist   the 20 of both: labels 0–9 digits, 10–19 garments
//   cifar10               airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck
//   (other names)         the class names given (image folders: the folder names), as objects
//
// Texts become tokens (encode_texts): token t < 256 is the byte t of the UTF-8 text, then
// kTextEnd; a start token kTextStart comes first and kTextPad fills the row to the context.
// A text encoder reads up to the end token, whose position it is given: with causal attention
// nothing after it is seen, so the padding needs no mask.
//
// What it is not: a tokenizer with a vocabulary (bytes need none: any label text works) or a
// caption generator beyond templates.
// Extend: a new dataset's classes are a case in concepts_of(); a new template is a line in the
// template lists of captions.cpp (a held-out template must never equal a training one: a test
// checks it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sieve {

struct Concept {
  std::string word;     // "seven", "ankle boot"
  std::string numeral;  // "7" for a digit; empty for an object
  bool is_digit() const { return !numeral.empty(); }
};

// The classes of a dataset, in label order (table above). `names`: what a dataset without a
// built-in list calls its classes (an image folder's folder names); an unknown dataset with no
// names is an error naming it.
std::vector<Concept> concepts_of(const std::string& dataset, const std::vector<std::string>& names = {});

// The templates for a kind of concept: training or held out.
const std::vector<std::string>& caption_templates(bool digits, bool held_out);

// One template filled in with a concept.
std::string fill_template(const std::string& templ, const Concept& named);

// Every caption of every class: texts[c] are class c's captions from the training or the
// held-out templates.
std::vector<std::vector<std::string>> class_captions(const std::vector<Concept>& concepts, bool held_out);

// Byte tokens: 256 byte values, then the three specials. Vocabulary kTextVocab = 259.
inline constexpr int64_t kTextStart = 256, kTextEnd = 257, kTextPad = 258, kTextVocab = 259;

struct EncodedTexts {
  Tensor tokens;  // int64 (N, context): start, the bytes, end, padding
  Tensor ends;    // int64 (N,): the position of each row's end token
};

// texts → tokens; a text whose bytes do not fit (context − 2 bytes at most) or that is empty is an
// error naming it and the context, and `what` (a flag, a file) says where it came from.
EncodedTexts encode_texts(const std::vector<std::string>& texts, int64_t context, const std::string& what);

}  // namespace sieve
