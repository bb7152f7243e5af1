// A candidate's per-unit bit widths as a heat strip: one column per quantizable unit (embed,
// then each layer's q k v o gate up down), one row for the weight bits and one for the
// activation bits, the colour darker the fewer the bits; a token-adaptive activation (8/4) is a
// cell split between its two widths. Every cell has an SVG <title> naming the unit.
//
//          embed  L0                      L1 ...
//     W    [ 4 ] [4][4][3][3][4][4][3]   [...]
//     A    [ 8 ] [8][8][8][8][8][8][8]   [...]
//                  q  k  v  o  g  u  d
#pragma once

#include <ostream>
#include <string>

#include "reports/run_view.h"

namespace hilq::reports {

// Writes the strip of a candidate with units (nothing for a float baseline); `attributes` are
// raw attribute text for the <svg> (class, id), escaped by the caller.
void bit_strip_svg(const Candidate& c, const std::string& attributes, std::ostream& out);

// The colour key, as HTML (one swatch per width).
void bit_legend_html(std::ostream& out);

}  // namespace hilq::reports
