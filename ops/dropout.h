// ops/dropout.h — inverted dropout with a Philox mask.
//
// Shapes: x: any → out: same. In training each element is kept with probability 1 − p and scaled
// by 1/(1 − p); the mask comes from the counter-based generator (core/random.h), so the same seed
// gives the same mask on CPU and CUDA. Not training, or p == 0: returns x itself.
// Backward multiplies by the same mask (recomputed from the saved seed and offset, not stored).
//
// Extend: other stochastic ops draw from core/random.h the same way.
#pragma once

#include "core/random.h"
#include "core/tensor.h"

namespace sieve {

Tensor dropout(const Tensor& x, double p, bool training = true, Generator* generator = nullptr);

}  // namespace sieve
