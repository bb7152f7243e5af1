// Packed low-bit weights: the one storage format of every MKMP kernel and of the model file.
//
// Glossary
//   w_bits   2, 3, 4, 6 or 8: signed symmetric integers q in [-2^(b-1), 2^(b-1)-1]
//   u        the stored code u = q + 2^(b-1) in [0, 2^b) ("offset binary"); kernels feed u to an
//            unsigned x signed dot product and subtract 2^(b-1) * sum(a) per group (exact in int32)
//   panel    32 output rows; the matrix is a sequence of panels (rows padded to a multiple of 32)
//   k-block  4 consecutive k of one panel: 2 slots of 64 codes, slot A = rows 0-15, slot B = rows
//            16-31; inside a slot, code e (0..63) is row e/4, k = 4*kblock + e%4 ("c4" order: one
//            32-bit lane holds 4 k of one row, exactly what vpdpbusd / sdot consume)
//   plane    slots are bit-sliced into planes; byte e of a 64-byte plane chunk holds code e of
//            8/p slots, slot s at bit p*s:
//
//     w8: [A][B]                          64 B per slot, 1 k-block per super-block (128 B)
//     w4: [A|B<<4]                        1 k-block per super-block (64 B)
//     w2: [A0|B0<<2|A1<<4|B1<<6]          2 k-blocks per super-block (64 B)
//     w6: [A0|B0<<4][A1|B1<<4][hi2 of A0 B0 A1 B1]        2 k-blocks (192 B)
//     w3: [lo2 A0 B0 A1 B1][lo2 A2 B2 A3 B3][hi1 of the 8 slots]   4 k-blocks (192 B)
//
//   In w4, byte e holds row r in its low nibble and row r+16 in its high nibble: the pair that the
//   Squat concatenated-int16 kernel puts in one 16-bit lane.
//   Columns are padded with code 2^(b-1) (q = 0) to cols_pad, a multiple of 32 and of the group.
//
// Scales are float, panel-major: per output channel [rows_pad]; per group of 32/64/128 along K
// [rows_pad/32][groups][32] (group g of row r scales k in [g*G, (g+1)*G)). Padded rows have scale
// 0.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/aligned.h"

namespace hilq::kernels {

constexpr int kPanelRows = 32;
constexpr int kSlotRows = 16;
constexpr int kKBlock = 4;
constexpr int kColsAlign = 32;
// Largest K the int32 accumulators are proven exact for (255 * 128 * 65536 < 2^31).
constexpr int kMaxCols = 65536;
// Layout identifier stored in model files next to the buffers.
constexpr const char* kPackFormat = "hilq.p32c4.v1";

constexpr bool is_supported_w_bits(int b) { return b == 2 || b == 3 || b == 4 || b == 6 || b == 8; }
constexpr bool is_supported_group(int g) { return g == 0 || g == 32 || g == 64 || g == 128; }
// k-blocks per super-block (the unit a kernel unpacks at once).
constexpr int superblock_kblocks(int b) { return b == 3 ? 4 : (b == 2 || b == 6) ? 2 : 1; }
// Bytes of one k-block of one panel: 128 codes of b bits.
constexpr int kblock_bytes(int b) { return 16 * b; }
constexpr int code_offset(int b) { return 1 << (b - 1); }

// What a model file stores besides the two buffers.
struct PackedLayout {
  int rows = 0;    // M: output channels
  int cols = 0;    // K: input features
  int w_bits = 0;  // 2, 3, 4, 6, 8
  int group = 0;   // 0: one scale per output channel; else 32, 64 or 128 along K

  int rows_pad() const { return (rows + kPanelRows - 1) / kPanelRows * kPanelRows; }
  int cols_pad() const {
    const int a = group > kColsAlign ? group : kColsAlign;
    return (cols + a - 1) / a * a;
  }
  int panels() const { return rows_pad() / kPanelRows; }
  int groups() const { return group ? cols_pad() / group : 1; }
  int64_t panel_bytes() const { return int64_t{cols_pad() / kKBlock} * kblock_bytes(w_bits); }
  int64_t data_bytes() const { return panel_bytes() * panels(); }
  int64_t scale_count() const { return int64_t{rows_pad()} * groups(); }
  // Empty when valid, else what is wrong.
  std::string validate() const;
};

struct PackedWeights {
  PackedLayout layout;
  AlignedBuffer<uint8_t> data;  // data_bytes()
  AlignedBuffer<float> scales;  // scale_count(), panel-major (see above)

  // Weight bytes a kernel streams per call (codes + scales).
  int64_t bytes() const { return layout.data_bytes() + layout.scale_count() * 4; }
};

// Packs row-major integers q[rows][cols] (each in the signed range of w_bits) and row-major scales
// ([rows] per channel, [rows][ceil(cols/group)] per group). Aborts on an out-of-range value.
PackedWeights pack_weights(const int8_t* q, const float* scales, int rows, int cols, int w_bits,
                           int group);
// Exact inverse of pack_weights: q[rows][cols], scales in the same row-major shape.
void unpack_weights(const PackedWeights& w, int8_t* q, float* scales);

// Quantizes float weights w[rows][cols] with the shared quantizer (quantize_value) and packs them.
// scales == nullptr: absmax per row (or per row and group); else the given row-major scales are
// used as they are (the QAT exporter passes its learned ones, so the integers are bit-identical).
PackedWeights quantize_pack(const float* w, int rows, int cols, int w_bits, int group,
                            const float* scales = nullptr);
// x_hat = scale * q, row-major [rows][cols].
void dequantize_weights(const PackedWeights& w, float* out);

// Rebuilds packed weights from a model file's buffers. Returns false and says why on a mismatch.
bool packed_from_buffers(const PackedLayout& layout, const void* data, int64_t data_bytes,
                         const float* scales, int64_t scale_count, PackedWeights* out,
                         std::string* error);

// Element access on the packed codes (slow; for references, tests and the exporter).
int8_t packed_get(const PackedWeights& w, int row, int col);
// Index of the scale of (row, group) in PackedWeights::scales.
inline int64_t scale_index(const PackedLayout& l, int row, int g) {
  if (!l.group) return row;
  return (int64_t{row / kPanelRows} * l.groups() + g) * kPanelRows + row % kPanelRows;
}
// Unpacks one panel into int8 q in [panel row][cols_pad] order (used by the scalar reference).
void unpack_panel(const PackedLayout& l, const uint8_t* panel, int8_t* q);

}  // namespace hilq::kernels
