// core/dtype.h — element types and devices.
//
// sieve has exactly three dtypes: float32 (everything), float64 (CPU; gradcheck uses it) and int64
// (labels and indices). A Device is a kind (cpu or cuda) plus an index.
//
// Extend: a new dtype needs a size, a name, a dtype_of<T> mapping, a safetensors code
// (core/safetensors.cpp) and a case in the kernels' dispatch helpers (ops/dispatch.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sieve {

enum class DType : uint8_t { f32, f64, i64 };

constexpr size_t dtype_size(DType dt) { return dt == DType::f32 ? 4 : 8; }

constexpr const char* dtype_name(DType dt) {
  switch (dt) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i64: return "int64";
  }
  return "?";
}

constexpr bool is_floating(DType dt) { return dt == DType::f32 || dt == DType::f64; }

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }

enum class DeviceType : uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  bool operator==(const Device&) const = default;
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

  // Parses "cpu", "cuda" or "cuda:N"; throws sieve::Error on anything else.
  static Device parse(const std::string& text);
};

inline const Device kCPU{DeviceType::cpu, 0};
inline const Device kCUDA{DeviceType::cuda, 0};

}  // namespace sieve
