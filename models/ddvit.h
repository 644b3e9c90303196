// models/ddvit.h — DD-ViT: a Vision Transformer whose depth is chosen per sample at inference.
//
//   images (B, C, H, W) → embed → tokens (B, 1+N, D) → block 0 → exit 0 → block 1 → exit 1 → ...
//   exit n: norm(token 0) → head → logits (b, classes), b = the samples still running at block n
// The backbone is VisionTransformer's (same names: patch_embed, cls_token, pos_embed, blocks.n);
// instead of one final norm + head there is one classifier per block, `exits.n.norm` and
// `exits.n.head` (the last exit is the ordinary final classifier), so the registry's head prefix
// "exits." makes `sieve ckpt strip-head` remove every exit.
//
// Training (train mode, or training_step): every block runs on the whole batch and the loss is
// the SUM over exits of each exit's mean cross-entropy, so every exit learns to classify.
// Inference (eval mode), by `policy`:
//   exit     after block n, the exit's logits are computed for the samples still running; those
//            whose top softmax probability is ≥ threshold (τ) leave: their logits are final
//   entropy  the Shannon entropy (bits) of a 256-bin histogram of each sample's embedded tokens
//            ((1+N)·D values, bins spanning that sample's min..max) picks its depth in 1..depth,
//            linearly between the calibrated low/high entropies (entropy_range), clamped
//   full     every sample runs every block (the baseline)
// The entropy range is a buffer, so checkpoints keep it: calibrate_entropy(images) sets it to the
// 5th/95th percentiles over those images; training with policy entropy also keeps a running
// estimate (as BatchNorm's statistics), so such a model is usable at its first evaluation.
// Samples that leave are removed from the token tensor (index_select on the rest), so later
// blocks really run on fewer samples; each leaver's logits go to its ORIGINAL row of the output.
// last_depths records how many blocks each sample ran (original order) after every forward.
//
// What it is not: the FLOP counting or the accuracy/τ sweep (tools), the blocks (nn/attention.h).
// Extend: a new policy is a DepthPolicy value and one function returning which active samples
// leave after block n; run_dynamic() does the bookkeeping for all policies.
#pragma once

#include <string>
#include <vector>

#include "models/registry.h"
#include "models/vit.h"

namespace sieve::models {

enum class DepthPolicy { exit, entropy, full };
DepthPolicy parse_depth_policy(const std::string& name);  // "exit" | "entropy" | "full"; else an error
const char* depth_policy_name(DepthPolicy policy);

// One early-exit classifier: cls (b, D) → logits (b, classes), LayerNorm (eps 1e-6) then Linear.
class ExitClassifier : public nn::Module {
 public:
  ExitClassifier(int64_t dim, int64_t classes, Generator* gen = nullptr);
  Tensor forward(const Tensor& cls) override;
  std::shared_ptr<nn::LayerNorm> norm;
  std::shared_ptr<nn::Linear> head;
};

class DynamicDepthViT : public VisionTransformer, public HasTrainingLoss {
 public:
  explicit DynamicDepthViT(const VitConfig& config, Generator* gen = nullptr);

  // images (B, C, H, W) → logits (B, classes). Train mode: all blocks, the last exit's logits.
  // Eval mode: the policy decides each sample's depth.
  Tensor forward(const Tensor& images) override;
  // Train-mode loss: Σ_n cross_entropy(exit n's logits, targets); logits = the last exit's.
  StepOutput training_step(const Tensor& images, const Tensor& targets) override;

  // Exit n on tokens after block n: tokens (b, 1+N, D) → logits (b, classes).
  Tensor exit_logits(int64_t n, const Tensor& tokens) const;

  // Sets entropy_range to the 5th and 95th percentiles of the token entropy over `images`
  // (B, C, H, W), normalised as the model sees them; computed in chunks under no-grad.
  void calibrate_entropy(const Tensor& images, int64_t chunk = 1000);
  // Per sample of tokens (B, L, D): entropy in bits of the 256-bin histogram of its L·D values.
  static std::vector<double> token_entropy_bits(const Tensor& tokens);
  // Per sample of tokens (B, 1+N, D): its depth in 1..depth from the calibrated range.
  std::vector<int64_t> entropy_depths(const Tensor& tokens) const;
  bool entropy_calibrated() const;

  DepthPolicy policy = DepthPolicy::exit;
  double threshold = 0.9;                // τ of the exit policy
  std::shared_ptr<nn::ModuleList> exits;  // depth ExitClassifiers
  Tensor entropy_range;                   // buffer (2): low, high entropy in bits; NaN until calibrated
  std::vector<int64_t> last_depths;       // blocks run per sample by the last forward, original order

 private:
  Tensor run_dynamic(const Tensor& images);
  void update_entropy_range(const std::vector<double>& entropies, double momentum);
};

}  // namespace sieve::models
