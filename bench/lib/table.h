// Result tables printed as markdown (llama-bench's shape), CSV or JSON. A column is shown
// to people (markdown), to programs (CSV/JSON), or both, so "12.3 ± 0.4" can sit in the
// markdown while CSV/JSON carry median, sd, min and max as numbers. Header-only.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gguf/error.h"

namespace petrel::bench {

enum class Align { kLeft, kRight };
enum class Shown { kBoth, kHuman, kMachine };

struct Column {
  std::string key;     // JSON key and CSV header
  std::string header;  // markdown header
  Align align = Align::kLeft;
  Shown shown = Shown::kBoth;
};

// text: what markdown shows; value: what CSV/JSON carry (null: use text; none(): nothing).
struct Cell {
  std::string text;
  nlohmann::ordered_json value;
  Cell() = default;
  Cell(std::string t) : text(std::move(t)) {}  // NOLINT(implicit)
  Cell(const char* t) : text(t) {}             // NOLINT(implicit)
  Cell(std::string t, nlohmann::ordered_json v) : text(std::move(t)), value(std::move(v)) {}
  // A number shown with `decimals` digits and carried exactly.
  static Cell num(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return Cell(buf, v);
  }
  static Cell integer(int64_t v) { return Cell(std::to_string(v), v); }
  // No value: blank in markdown and CSV, null in JSON.
  static Cell none() {
    Cell c;
    c.is_none = true;
    return c;
  }
  bool is_none = false;
};

struct Table {
  std::vector<Column> columns;
  std::vector<std::vector<Cell>> rows;
  // Appends a row; throws Error if its size differs from the number of columns.
  void add_row(std::vector<Cell> row) {
    if (row.size() != columns.size())
      throw Error("table row has " + std::to_string(row.size()) + " cells, expected " +
                  std::to_string(columns.size()));
    rows.push_back(std::move(row));
  }
};

enum class OutputFormat { kMarkdown, kJson, kCsv };

// "md" / "json" / "csv" -> format; throws Error naming the value otherwise.
inline OutputFormat parse_output_format(const std::string& s) {
  if (s == "md" || s == "markdown") return OutputFormat::kMarkdown;
  if (s == "json") return OutputFormat::kJson;
  if (s == "csv") return OutputFormat::kCsv;
  throw Error("output format '" + s + "': expected md, json or csv");
}

namespace detail {
// Display width in code points (UTF-8 continuation bytes do not count).
inline size_t display_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}
inline std::string pad(const std::string& s, size_t width, Align a) {
  const size_t w = display_width(s);
  if (w >= width) return s;
  const std::string fill(width - w, ' ');
  return a == Align::kRight ? fill + s : s + fill;
}
inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}
inline std::string machine_text(const Cell& c) {
  if (c.is_none) return "";
  if (c.value.is_null()) return c.text;
  if (c.value.is_string()) return c.value.get<std::string>();
  return c.value.dump();
}
}  // namespace detail

// Markdown table with padded columns; numbers right-aligned (`---:`), as llama-bench.
inline std::string to_markdown(const Table& t) {
  std::vector<size_t> cols;
  for (size_t i = 0; i < t.columns.size(); ++i)
    if (t.columns[i].shown != Shown::kMachine) cols.push_back(i);
  std::vector<size_t> width(t.columns.size(), 3);
  for (size_t i : cols) {
    width[i] = std::max(width[i], detail::display_width(t.columns[i].header));
    for (const auto& r : t.rows) width[i] = std::max(width[i], detail::display_width(r[i].text));
  }
  // Appends piece by piece (GCC 12 warns falsely on `"x" + std::string&&`).
  std::string out = "|";
  auto cell = [&out](const std::string& text) {
    out += ' ';
    out += text;
    out += " |";
  };
  for (size_t i : cols) cell(detail::pad(t.columns[i].header, width[i], t.columns[i].align));
  out += "\n|";
  for (size_t i : cols) {
    const bool right = t.columns[i].align == Align::kRight;
    cell(std::string(width[i] - 1, '-') + (right ? ':' : '-'));
  }
  out += '\n';
  for (const auto& r : t.rows) {
    out += '|';
    for (size_t i : cols) cell(detail::pad(r[i].text, width[i], t.columns[i].align));
    out += '\n';
  }
  return out;
}

// CSV (RFC 4180 quoting) of the machine columns, header line first.
inline std::string to_csv(const Table& t) {
  std::string out;
  bool first = true;
  for (const auto& c : t.columns) {
    if (c.shown == Shown::kHuman) continue;
    if (!first) out += ',';
    out += detail::csv_field(c.key);
    first = false;
  }
  out += "\n";
  for (const auto& r : t.rows) {
    first = true;
    for (size_t i = 0; i < t.columns.size(); ++i) {
      if (t.columns[i].shown == Shown::kHuman) continue;
      if (!first) out += ',';
      out += detail::csv_field(detail::machine_text(r[i]));
      first = false;
    }
    out += "\n";
  }
  return out;
}

// JSON array with one object per row, keyed by the machine columns' keys.
inline nlohmann::ordered_json to_json(const Table& t) {
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  for (const auto& r : t.rows) {
    nlohmann::ordered_json o = nlohmann::ordered_json::object();
    for (size_t i = 0; i < t.columns.size(); ++i) {
      if (t.columns[i].shown == Shown::kHuman) continue;
      const Cell& c = r[i];
      o[t.columns[i].key] = c.is_none           ? nlohmann::ordered_json()
                            : c.value.is_null() ? nlohmann::ordered_json(c.text)
                                                : c.value;
    }
    arr.push_back(std::move(o));
  }
  return arr;
}

// The table in `f` (JSON pretty-printed with 2 spaces), ending in a newline.
inline std::string format_table(const Table& t, OutputFormat f) {
  switch (f) {
    case OutputFormat::kMarkdown:
      return to_markdown(t);
    case OutputFormat::kCsv:
      return to_csv(t);
    case OutputFormat::kJson:
      return to_json(t).dump(2) + "\n";
  }
  return {};
}

}  // namespace petrel::bench
