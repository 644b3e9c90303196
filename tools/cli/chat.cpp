// tools/cli/chat.cpp — `sieve chat CKPT --image FILE [QUESTION]`: a VLM's answers about an image.
//
//   sieve chat runs/vlm/checkpoint.safetensors --image seven.png "what is this?"
//   sieve chat CKPT --image grid.png            questions from standard input, one per line
// The image is grey (colour is converted) and 28×28 — one cell — or 56×56: a 2×2 grid, cut into its
// four 28×28 cells in reading order, each of which the tower reads alone (models/vlm.h). It is
// normalised as the tower's training images were. The answer is greedy and streams byte by byte
// (the language model's key/value cache makes each byte one position's work), one line per
// question; a byte that is not printable ASCII is written \xNN.
//
// What it is not: a general chat model (it knows the question kinds of datasets/vqa.h) or sampling.
// Extend: another input size is another way of cutting the image into the tower's cells.
#include <cstdio>
#include <iostream>
#include <memory>

#include "core/error.h"
#include "datasets/image_folder.h"
#include "models/vlm.h"
#include "nn/checkpoint.h"
#include "ops/shape.h"
#include "tools/cli/commands.h"
#include "tools/train/data.h"
#include "tools/train/trainer.h"

namespace sieve::tools {

namespace {

struct ChatFlags {
  std::string checkpoint, image, question, device = "cpu";
  int64_t max_new = 32;
  CLI::Option* question_flag = nullptr;
};

constexpr int64_t kMaxQuestionBytes = 256;

// The image's cells, (1 or 4, 1, side, side), normalised.
Tensor cells_of_image(const std::string& path, const DatasetInfo& data) {
  const Tensor image = load_image(path, static_cast<int>(data.channels));  // (C, H, W) in [0, 1]
  const int64_t side = data.image_size, H = image.size(1), W = image.size(2);
  SIEVE_CHECK(H == W && (H == side || H == 2 * side),
              "--image {}: {}×{} pixels; the model answers about {}×{} images or {}×{} 2×2 grids", path, W, H, side,
              side, 2 * side, 2 * side);
  Tensor cells = image.unsqueeze(0);
  if (H == 2 * side) {  // reading order: top-left, top-right, bottom-left, bottom-right
    std::vector<Tensor> parts;
    for (int64_t row = 0; row < 2; ++row)
      for (int64_t col = 0; col < 2; ++col) parts.push_back(image.narrow(1, row * side, side).narrow(2, col * side, side));
    cells = stack(parts, 0);
  }
  return normalised(cells.contiguous(), data);
}

void answer(models::VisionLanguageModel& model, const Tensor& cells, const std::string& question, int64_t max_new) {
  SIEVE_CHECK(!question.empty(), "QUESTION: empty; ask something (\"what is this?\")");
  SIEVE_CHECK(std::ssize(question) <= kMaxQuestionBytes, "QUESTION: {} bytes; at most {} are read",
              question.size(), kMaxQuestionBytes);
  model.generate(cells, question, max_new, [](char byte) {
    // Printable ASCII as it is; any other byte (a newline, half of a UTF-8 sequence an untrained
    // model emits) as \xNN, so each answer is one line of valid text.
    const auto b = static_cast<unsigned char>(byte);
    if (b >= 0x20 && b < 0x7f)
      std::fputc(b, stdout);
    else
      std::printf("\\x%02x", b);
    std::fflush(stdout);
  });
  std::fputc('\n', stdout);
}

int run_chat(const ChatFlags& f) {
  const Device device = parse_device(f.device);
  const nn::Checkpoint checkpoint = nn::load_checkpoint(f.checkpoint);
  SIEVE_CHECK(checkpoint.model == "vlm", "{}: a '{}' checkpoint; sieve chat talks to a vlm (sieve train vlm)",
              f.checkpoint, checkpoint.model);
  models::ModelPtr built = model_from_checkpoint(checkpoint, f.checkpoint);
  auto& model = dynamic_cast<models::VisionLanguageModel&>(*built);
  model.to(device);
  model.eval();
  const DatasetInfo data = DatasetInfo::from_json(checkpoint.data, f.checkpoint);
  const Tensor cells = cells_of_image(f.image, data).to(device);
  if (f.question_flag->count() > 0) {  // given, even empty: answer it (an empty one is refused)
    answer(model, cells, f.question, f.max_new);
    return 0;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    answer(model, cells, line, f.max_new);
  }
  return 0;
}

}  // namespace

void add_chat_command(CLI::App& app, Runner* run) {
  CLI::App* cmd = app.add_subcommand("chat", "ask a vlm checkpoint questions about an image; answers stream");
  auto f = std::make_shared<ChatFlags>();
  cmd->add_option("CKPT", f->checkpoint, "a checkpoint written by sieve train vlm")->required();
  f->question_flag = cmd->add_option("QUESTION", f->question,
                                     "the question (default: read questions from standard input, one per line)");
  cmd->add_option("--image", f->image, "a 28×28 image, or a 56×56 2×2 grid (.png, .jpg, .bmp; grey)")->required();
  cmd->add_option("--max-new", f->max_new, "longest answer, in bytes")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--device", f->device, "cpu or cuda")->capture_default_str();
  cmd->callback([run, f] { *run = [f] { return run_chat(*f); }; });
}

}  // namespace sieve::tools
