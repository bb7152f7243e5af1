// Heat strips of per-unit bit widths (see bit_strip.h).
#include "reports/bit_strip.h"

#include <sstream>
#include <vector>

#include "reports/html_reporter.h"
#include "reports/svg_plot.h"

namespace hilq::reports {
namespace {

// Fewer bits, darker (viridis stops): the eye finds the aggressive units first.
const char* bits_colour(int bits) {
  switch (bits) {
    case 2:
      return "#440154";
    case 3:
      return "#3b528b";
    case 4:
      return "#21918c";
    case 5:
      return "#35b779";
    case 6:
      return "#90d743";
    case 8:
      return "#fde725";
    default:
      return "#f3f4f6";  // 16 / 32: float
  }
}

const char* text_colour(int bits) { return bits <= 5 ? "#ffffff" : "#111827"; }

// "layers.3.mlp.gate" -> ("L3", "g"); "embed" -> ("embed", "e").
std::pair<std::string, std::string> group_and_role(const std::string& name) {
  if (name.rfind("layers.", 0) == 0) {
    const size_t dot = name.find('.', 7);
    const std::string layer = "L" + name.substr(7, dot - 7);
    const std::string role = dot == std::string::npos ? "" : name.substr(dot + 1);
    const size_t last = role.rfind('.');
    const std::string leaf = last == std::string::npos ? role : role.substr(last + 1);
    return {layer, leaf.empty() ? "?" : leaf.substr(0, 1)};
  }
  return {name == "embed" ? "emb" : name, name.substr(0, 1)};
}

}  // namespace

void bit_strip_svg(const Candidate& c, const std::string& attributes, std::ostream& out) {
  if (c.units.empty()) return;
  const int cell = 20, gap = 10, label_w = 22, top = 16, row_h = 20;
  std::vector<int> xs;
  std::vector<std::pair<std::string, int>> groups;  // name, first x
  int x = label_w;
  std::string group;
  for (const auto& u : c.units) {
    const auto [g, role] = group_and_role(u.name);
    if (g != group) {
      if (!group.empty()) x += gap;
      group = g;
      groups.emplace_back(g, x);
    }
    xs.push_back(x);
    x += cell;
  }
  const int width = x + 4, height = top + 2 * row_h + 16;
  std::ostringstream svg;
  svg_open(svg, width, height,
           attributes + " role='img' aria-label='bit widths of " + html_escape(c.label) + "'");
  svg << "<g font-size='10'>";
  for (const auto& [name, gx] : groups)
    svg << "<text x='" << gx << "' y='11' fill='#4b5563'>" << html_escape(name) << "</text>";
  svg << "<text x='0' y='" << top + 14 << "' font-weight='600'>W</text><text x='0' y='"
      << top + row_h + 14 << "' font-weight='600'>A</text>";
  for (size_t i = 0; i < c.units.size(); ++i) {
    const UnitBits& u = c.units[i];
    const int cx = xs[i];
    const std::string name = html_escape(u.name);
    const std::string group_text =
        u.group > 0 ? " in groups of " + std::to_string(u.group) : " per channel";
    svg << "<rect class='w' x='" << cx << "' y='" << top << "' width='" << cell - 1 << "' height='"
        << row_h - 1 << "' fill='" << bits_colour(u.w_bits) << "'><title>" << name << ": weights "
        << u.w_bits << " bits" << group_text << "</title></rect><text x='" << cx + cell / 2
        << "' y='" << top + 14 << "' text-anchor='middle' fill='" << text_colour(u.w_bits)
        << "' pointer-events='none'>" << u.w_bits << "</text>";
    const int ay = top + row_h;
    if (u.token_adaptive) {
      // Upper-left triangle: the high width; lower-right: the low one.
      svg << "<g class='a'><title>" << name << ": activations token-adaptive " << u.high_bits << "/"
          << u.a_bits << " bits</title><rect x='" << cx << "' y='" << ay << "' width='" << cell - 1
          << "' height='" << row_h - 1 << "' fill='" << bits_colour(u.a_bits) << "'/><path d='M"
          << cx << " " << ay << "h" << cell - 1 << "L" << cx << " " << ay + row_h - 1 << "Z' fill='"
          << bits_colour(u.high_bits) << "'/></g><text x='" << cx + cell / 2 << "' y='" << ay + 14
          << "' text-anchor='middle' font-size='8' fill='#ffffff' pointer-events='none'>"
          << u.high_bits << "/" << u.a_bits << "</text>";
    } else {
      svg << "<rect class='a' x='" << cx << "' y='" << ay << "' width='" << cell - 1 << "' height='"
          << row_h - 1 << "' fill='" << bits_colour(u.a_bits) << "'><title>" << name
          << ": activations " << u.a_bits << " bits</title></rect><text x='" << cx + cell / 2
          << "' y='" << ay + 14 << "' text-anchor='middle' fill='" << text_colour(u.a_bits)
          << "' pointer-events='none'>" << u.a_bits << "</text>";
    }
    svg << "<text x='" << cx + cell / 2 << "' y='" << height - 3
        << "' text-anchor='middle' fill='#6b7280'>" << html_escape(group_and_role(u.name).second)
        << "</text>";
  }
  svg << "</g></svg>";
  out << svg.str();
}

void bit_legend_html(std::ostream& out) {
  out << "<div class='legend bits'>bits:";
  for (const int b : {2, 3, 4, 6, 8})
    out << "<span><i style='background:" << bits_colour(b) << "'></i>" << b << "</span>";
  out << "<span><i style='background:linear-gradient(135deg," << bits_colour(8) << " 50%,"
      << bits_colour(4) << " 50%)'></i>8/4 token-adaptive</span>"
      << "<span class='note'>columns: q k v o attention, g u d MLP gate/up/down</span></div>";
}

}  // namespace hilq::reports
