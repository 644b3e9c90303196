// cuda/rows.cuh — what the row-wise kernels (softmax, loss, norm) share: one block per row, the
// block size chosen from the row length, and block-wide sum / max that every thread receives.
//
// A row kernel is written as
//
//   for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {   // the block walks rows
//     double s = 0;
//     for (int64_t i = threadIdx.x; i < c; i += blockDim.x) s += x[r * c + i];
//     s = block_sum(s);                                         // every thread now holds Σ
//     ...
//   }
//
// The block sum is deterministic: each warp adds its lanes by shuffles, the warps' partials go
// to shared memory and every thread adds them in warp order, so the result does not depend on
// timing and all threads see the same value. Every thread of the block must call it (it holds
// __syncthreads), so the row loop above keeps the whole block together.
//
// Extend: another block-wide reduction (min, a (value, index) pair) follows block_max.
#pragma once

#include "cuda/loops.cuh"

namespace sieve::cuda {

constexpr int kMaxRowBlock = 256;  // threads per row block; a multiple of 32

// Enough threads for a row of c values (32 to kMaxRowBlock, a power of two).
inline int row_block_for(int64_t c) {
  int threads = 32;
  while (threads < kMaxRowBlock && threads < c) threads *= 2;
  return threads;
}

// Blocks for `rows` rows; past 65536 each block walks several rows.
inline unsigned row_grid_for(int64_t rows) {
  return static_cast<unsigned>(rows < 1 ? 1 : (rows < 65536 ? rows : 65536));
}

template <typename A>
__device__ __forceinline__ A warp_sum(A v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// A NaN is skipped here (a > b is false for it); the row's later exp turns it into a NaN row.
template <typename A>
__device__ __forceinline__ A warp_max(A v) {
  for (int offset = 16; offset > 0; offset /= 2) {
    const A other = __shfl_xor_sync(0xffffffffu, v, offset);
    v = other > v ? other : v;
  }
  return v;
}

// Σ v over the block, returned to every thread. blockDim.x is a multiple of 32, at most 1024.
template <typename A>
__device__ A block_sum(A v) {
  __shared__ A partial[32];
  v = warp_sum(v);
  __syncthreads();  // a previous call may still be reading partial
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = v;
  __syncthreads();
  A total = 0;
  for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w) total += partial[w];
  return total;
}

// max v over the block, returned to every thread (start idle threads at -inf).
template <typename A>
__device__ A block_max(A v) {
  __shared__ A partial[32];
  v = warp_max(v);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = v;
  __syncthreads();
  A best = partial[0];
  for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) best = partial[w] > best ? partial[w] : best;
  return best;
}

}  // namespace sieve::cuda
