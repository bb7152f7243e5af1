// Packing and unpacking of the panel/plane weight layout described in pack.h.
#include "kernels/pack.h"

#include <cstring>
#include <vector>

#include "kernels/check.h"
#include "kernels/quantize.h"

namespace hilq::kernels {
namespace {

// Where the bits of one code live: up to two (byte offset, bit shift, width) parts; the low
// `width` bits of the code go to part 0, the rest to part 1.
struct Part {
  int64_t byte;
  int shift;
  int width;
};

int code_parts(int bits, int r, int c, Part* p) {
  const int kb = c / kKBlock;
  const int sbk = superblock_kblocks(bits);
  const int64_t base = int64_t{kb / sbk} * sbk * kblock_bytes(bits);
  const int s = 2 * (kb % sbk) + r / kSlotRows;  // slot in the super-block
  const int e = (r % kSlotRows) * kKBlock + c % kKBlock;
  switch (bits) {
    case 8:
      p[0] = {base + s * 64 + e, 0, 8};
      return 1;
    case 4:
      p[0] = {base + e, 4 * s, 4};
      return 1;
    case 2:
      p[0] = {base + e, 2 * s, 2};
      return 1;
    case 6:
      p[0] = {base + (s / 2) * 64 + e, 4 * (s % 2), 4};
      p[1] = {base + 128 + e, 2 * s, 2};
      return 2;
    case 3:
      p[0] = {base + (s / 4) * 64 + e, 2 * (s % 4), 2};
      p[1] = {base + 128 + e, s, 1};
      return 2;
    default:
      HILQ_CHECK(false, "w_bits %d", bits);
  }
  return 0;
}

void put_code(uint8_t* panel, int bits, int r, int c, unsigned u) {
  Part p[2];
  const int n = code_parts(bits, r, c, p);
  for (int i = 0; i < n; ++i) {
    const unsigned mask = (1u << p[i].width) - 1;
    uint8_t& byte = panel[p[i].byte];
    byte = static_cast<uint8_t>((byte & ~(mask << p[i].shift)) | ((u & mask) << p[i].shift));
    u >>= p[i].width;
  }
}

unsigned get_code(const uint8_t* panel, int bits, int r, int c) {
  Part p[2];
  const int n = code_parts(bits, r, c, p);
  unsigned u = 0;
  int at = 0;
  for (int i = 0; i < n; ++i) {
    u |= ((panel[p[i].byte] >> p[i].shift) & ((1u << p[i].width) - 1)) << at;
    at += p[i].width;
  }
  return u;
}

void check_layout(const PackedLayout& l) {
  const std::string err = l.validate();
  HILQ_CHECK(err.empty(), "%s", err.c_str());
}

}  // namespace

std::string PackedLayout::validate() const {
  if (!is_supported_w_bits(w_bits))
    return "w_bits " + std::to_string(w_bits) + " is not one of 2, 3, 4, 6, 8";
  if (!is_supported_group(group))
    return "group " + std::to_string(group) + " is not one of 0 (per channel), 32, 64, 128";
  if (rows < 1 || cols < 1 || cols > kMaxCols)
    return "shape " + std::to_string(rows) + "x" + std::to_string(cols) +
           " is outside 1..inf x 1.." + std::to_string(kMaxCols);
  return {};
}

PackedWeights pack_weights(const int8_t* q, const float* scales, int rows, int cols, int w_bits,
                           int group) {
  PackedWeights w;
  w.layout = {rows, cols, w_bits, group};
  check_layout(w.layout);
  const PackedLayout& l = w.layout;
  w.data.resize(l.data_bytes());
  w.scales.resize(l.scale_count());
  const int off = code_offset(w_bits);
  const int cols_pad = l.cols_pad();
  for (int p = 0; p < l.panels(); ++p) {
    uint8_t* panel = w.data.data() + p * l.panel_bytes();
    for (int r = 0; r < kPanelRows; ++r) {
      const int row = p * kPanelRows + r;
      for (int c = 0; c < cols_pad; ++c) {
        int v = 0;
        if (row < rows && c < cols) {
          v = q[int64_t{row} * cols + c];
          HILQ_CHECK(v >= qmin(w_bits) && v <= qmax(w_bits), "q[%d][%d] = %d is not a %d-bit value",
                     row, c, v, w_bits);
        }
        put_code(panel, w_bits, r, c, static_cast<unsigned>(v + off));
      }
    }
  }
  const int src_groups = group ? (cols + group - 1) / group : 1;
  for (int row = 0; row < rows; ++row)
    for (int g = 0; g < src_groups; ++g)
      w.scales[scale_index(l, row, g)] = scales[int64_t{row} * src_groups + g];
  return w;
}

void unpack_weights(const PackedWeights& w, int8_t* q, float* scales) {
  const PackedLayout& l = w.layout;
  check_layout(l);
  for (int row = 0; row < l.rows; ++row)
    for (int c = 0; c < l.cols; ++c) q[int64_t{row} * l.cols + c] = packed_get(w, row, c);
  const int src_groups = l.group ? (l.cols + l.group - 1) / l.group : 1;
  for (int row = 0; row < l.rows; ++row)
    for (int g = 0; g < src_groups; ++g)
      scales[int64_t{row} * src_groups + g] = w.scales[scale_index(l, row, g)];
}

int8_t packed_get(const PackedWeights& w, int row, int col) {
  const PackedLayout& l = w.layout;
  const uint8_t* panel = w.data.data() + (row / kPanelRows) * l.panel_bytes();
  const int u = static_cast<int>(get_code(panel, l.w_bits, row % kPanelRows, col));
  return static_cast<int8_t>(u - code_offset(l.w_bits));
}

void unpack_panel(const PackedLayout& l, const uint8_t* panel, int8_t* q) {
  const int cols_pad = l.cols_pad();
  const int off = code_offset(l.w_bits);
  for (int r = 0; r < kPanelRows; ++r)
    for (int c = 0; c < cols_pad; ++c)
      q[r * cols_pad + c] =
          static_cast<int8_t>(static_cast<int>(get_code(panel, l.w_bits, r, c)) - off);
}

PackedWeights quantize_pack(const float* w, int rows, int cols, int w_bits, int group,
                            const float* scales) {
  const PackedLayout l{rows, cols, w_bits, group};
  check_layout(l);
  const int g_len = group ? group : cols;
  const int src_groups = (cols + g_len - 1) / g_len;
  std::vector<float> s(static_cast<size_t>(rows) * src_groups);
  std::vector<int8_t> q(static_cast<size_t>(rows) * cols);
  for (int row = 0; row < rows; ++row) {
    for (int g = 0; g < src_groups; ++g) {
      const int c0 = g * g_len;
      const int n = (cols - c0) < g_len ? cols - c0 : g_len;
      const float* x = w + int64_t{row} * cols + c0;
      const size_t si = static_cast<size_t>(row) * src_groups + g;
      s[si] = scales ? scales[si] : absmax_scale(x, n, w_bits);
      quantize_row(x, n, s[si], w_bits, q.data() + int64_t{row} * cols + c0);
    }
  }
  return pack_weights(q.data(), s.data(), rows, cols, w_bits, group);
}

void dequantize_weights(const PackedWeights& w, float* out) {
  const PackedLayout& l = w.layout;
  for (int row = 0; row < l.rows; ++row)
    for (int c = 0; c < l.cols; ++c)
      out[int64_t{row} * l.cols + c] = dequantize_value(
          packed_get(w, row, c), w.scales[scale_index(l, row, l.group ? c / l.group : 0)]);
}

bool packed_from_buffers(const PackedLayout& layout, const void* data, int64_t data_bytes,
                         const float* scales, int64_t scale_count, PackedWeights* out,
                         std::string* error) {
  std::string err = layout.validate();
  if (err.empty() && data_bytes != layout.data_bytes())
    err = "data has " + std::to_string(data_bytes) + " bytes, layout needs " +
          std::to_string(layout.data_bytes());
  if (err.empty() && scale_count != layout.scale_count())
    err = "scales has " + std::to_string(scale_count) + " floats, layout needs " +
          std::to_string(layout.scale_count());
  if (!err.empty()) {
    if (error) *error = err;
    return false;
  }
  out->layout = layout;
  out->data.resize(data_bytes);
  std::memcpy(out->data.data(), data, data_bytes);
  out->scales.resize(scale_count);
  std::memcpy(out->scales.data(), scales, scale_count * sizeof(float));
  return true;
}

}  // namespace hilq::kernels
