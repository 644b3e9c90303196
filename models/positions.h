// models/positions.h — absolute position embeddings at another input size, so a ViT or a Vim trained
// on 28×28 images runs on 14×14 or 56×56 ones (the VMamba study's fine-tune at several sizes).
//
// The embeddings of an S × S grid of patches are resized to T × T bilinearly, with half-pixel
// centres and edge clamping — torch.nn.functional.interpolate(mode="bilinear", align_corners=False);
// timm resamples with bicubic, which needs a 4-tap kernel for little gain at these sizes. The resize
// is a matrix product with a fixed (T², S²) interpolation matrix, so it runs on either device and
// gradients flow back to the trained embeddings.
//
// What it is not: a general image resize (datasets/image.h resizes pixels). Extend: bicubic would
// be another 1-D weight rule in the matrix.
#pragma once

#include "core/tensor.h"

namespace sieve::models {

// grid (1, S·S, D) → (1, T·T, D) for T = side_out; the same tensor when T == S.
Tensor resize_grid_positions(const Tensor& grid, int64_t side_out);

// The side S of a square grid of n patches; an error naming `who` when n is not a square.
int64_t grid_side(int64_t n, const char* who);

}  // namespace sieve::models
