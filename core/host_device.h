// core/host_device.h — SIEVE_HOST_DEVICE: marks a function that g++ compiles for the CPU and nvcc
// for both the CPU and the GPU, so one formula serves both backends (core/philox.h,
// ops/elementwise_math.h).
//
// What it is not: a portability layer; a header using it must stay plain C++ that nvcc parses
// (no fmt, no Tensor).
// Extend: nothing to add; include it where a shared formula lives.
#pragma once

#if defined(__CUDACC__)
#define SIEVE_HOST_DEVICE __host__ __device__
#else
#define SIEVE_HOST_DEVICE
#endif
