// Reads back the structure of a report.html for tests: its tables (heading, header, rows, cells)
// and its SVG elements, so tests assert on cells rather than on raw substrings. It knows only the
// shapes the HTML reporter writes (no comments, no nested tables), which is all it has to read.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace hilq::test {

struct HtmlRow {
  std::string cls;                 // the row's class attribute ("failed"), or ""
  std::vector<std::string> cells;  // inner HTML of each <td>/<th>, entities left escaped
};

struct HtmlTable {
  std::string heading;  // text of the last <h2> before the table
  std::vector<std::string> header;
  std::vector<HtmlRow> rows;

  // The cell of a data row under the header `column`; throws when there is no such column.
  const std::string& cell(size_t row, const std::string& column) const {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == column) return rows.at(row).cells.at(i);
    throw std::out_of_range("no column '" + column + "' in table '" + heading + "'");
  }
  // The first data row whose cell under `column` is `value`, or nullptr.
  const HtmlRow* row_where(const std::string& column, const std::string& value) const {
    for (size_t r = 0; r < rows.size(); ++r)
      if (cell(r, column) == value) return &rows[r];
    return nullptr;
  }
};

// Text between `<tag ...>` and `</tag>` starting the search at `from`; npos-safe.
inline std::vector<std::string> elements(const std::string& html, const std::string& tag,
                                         size_t from = 0, size_t to = std::string::npos) {
  std::vector<std::string> out;
  const std::string open = "<" + tag, close = "</" + tag + ">";
  for (size_t at = html.find(open, from); at < to; at = html.find(open, at + 1)) {
    const char next = html[at + open.size()];
    if (next != '>' && next != ' ') continue;  // <th> is not <thead>
    const size_t body = html.find('>', at) + 1;
    const size_t end = html.find(close, body);
    if (end == std::string::npos || end > to) break;
    out.push_back(html.substr(at, end + close.size() - at));
  }
  return out;
}

// Inner HTML of an element string as returned by elements().
inline std::string inner(const std::string& element) {
  const size_t body = element.find('>') + 1;
  return element.substr(body, element.rfind("</") - body);
}

// Value of attribute `name` ('single' quoted, as the reporter writes them) in an element's start
// tag.
inline std::string attribute(const std::string& element, const std::string& name) {
  const std::string start = element.substr(0, element.find('>'));
  const size_t at = start.find(" " + name + "='");
  if (at == std::string::npos) return "";
  const size_t value = at + name.size() + 3;
  return start.substr(value, start.find('\'', value) - value);
}

inline std::vector<HtmlTable> html_tables(const std::string& html) {
  std::vector<HtmlTable> tables;
  for (size_t at = html.find("<table"); at != std::string::npos; at = html.find("<table", at + 1)) {
    const size_t end = html.find("</table>", at);
    HtmlTable t;
    const size_t h2 = html.rfind("<h2>", at);
    if (h2 != std::string::npos) t.heading = html.substr(h2 + 4, html.find("</h2>", h2) - h2 - 4);
    for (const auto& tr : elements(html, "tr", at, end)) {
      const auto th = elements(tr, "th");
      if (!th.empty() && t.header.empty() && t.rows.empty()) {
        for (const auto& c : th) t.header.push_back(inner(c));
        continue;
      }
      HtmlRow row;
      row.cls = attribute(tr, "class");
      for (const auto& td : elements(tr, "td")) row.cells.push_back(inner(td));
      t.rows.push_back(row);
    }
    tables.push_back(t);
  }
  return tables;
}

inline const HtmlTable* table_under(const std::vector<HtmlTable>& tables,
                                    const std::string& heading) {
  for (const auto& t : tables)
    if (t.heading == heading) return &t;
  return nullptr;
}

// Number of `<tag` starts and `</tag>` ends (self-closing `<tag .../>` counts as both).
inline std::map<std::string, std::pair<int, int>> tag_balance(const std::string& html) {
  std::map<std::string, std::pair<int, int>> counts;
  for (size_t at = html.find('<'); at != std::string::npos; at = html.find('<', at + 1)) {
    const bool closing = html[at + 1] == '/';
    const size_t name = at + (closing ? 2 : 1);
    const size_t name_end = html.find_first_of(" >/", name);
    if (name_end == std::string::npos) break;
    const std::string tag = html.substr(name, name_end - name);
    if (tag.empty() || tag[0] == '!') continue;
    const size_t gt = html.find('>', at);
    auto& c = counts[tag];
    if (closing) {
      ++c.second;
    } else {
      ++c.first;
      if (html[gt - 1] == '/') ++c.second;
    }
  }
  return counts;
}

}  // namespace hilq::test
