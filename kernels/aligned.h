// A zero-initialised, 64-byte aligned array of trivially copyable values: the storage of packed
// weights and quantized activations (SIMD loads may read whole cache lines of it).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <type_traits>

namespace hilq::kernels {

template <class T>
class AlignedBuffer {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  static constexpr size_t kAlignBytes = 64;

  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n) { resize(n); }
  AlignedBuffer(const AlignedBuffer& o) { *this = o; }
  AlignedBuffer(AlignedBuffer&&) noexcept = default;
  AlignedBuffer& operator=(AlignedBuffer&&) noexcept = default;
  AlignedBuffer& operator=(const AlignedBuffer& o) {
    if (this != &o) {
      resize(o.size_);
      if (size_) std::memcpy(ptr_.get(), o.ptr_.get(), size_ * sizeof(T));
    }
    return *this;
  }

  // Discards the contents; the new elements are zero bytes.
  void resize(size_t n) {
    if (n != size_) {
      const size_t bytes = (n * sizeof(T) + kAlignBytes - 1) / kAlignBytes * kAlignBytes;
      ptr_.reset(n ? static_cast<T*>(std::aligned_alloc(kAlignBytes, bytes)) : nullptr);
      size_ = n;
      if (n) std::memset(static_cast<void*>(ptr_.get()), 0, bytes);
    } else if (n) {
      std::memset(static_cast<void*>(ptr_.get()), 0, n * sizeof(T));
    }
  }
  // Grows without clearing when the capacity suffices (scratch buffers).
  void reserve_uninit(size_t n) {
    if (n > size_) resize(n);
  }

  T* data() { return ptr_.get(); }
  const T* data() const { return ptr_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) { return ptr_.get()[i]; }
  const T& operator[](size_t i) const { return ptr_.get()[i]; }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T[], Free> ptr_;
  size_t size_ = 0;
};

}  // namespace hilq::kernels
