// A small SVG writer for benchmark plots: grouped bar charts (one group per block type or
// test, one bar per series) with optional error bars (min-max) and labelled horizontal
// reference lines (the bandwidth ceiling). Several panels stack vertically in one SVG.
// No plotting dependency; header-only so tests can check it without petrel_bench_lib.
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bench/lib/units.h"

namespace petrel::bench {

struct BarSeries {
  std::string name;
  std::vector<double> values;  // one per group; NaN = no bar
  std::vector<double> lo, hi;  // optional error bar ends, one per group (empty = none)
};

struct RefLine {
  double value = 0;
  std::string label;  // e.g. "read bandwidth 45.1 GB/s"
};

struct BarChart {
  std::string title;
  std::string y_label;
  std::vector<std::string> groups;
  std::vector<BarSeries> series;
  std::vector<RefLine> lines;
};

// Text with &, <, >, " and ' escaped for XML.
inline std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A 1/2/5 x 10^k tick step giving about `target` ticks over [0, range]; range > 0.
inline double nice_step(double range, int target) {
  const double raw = range / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  const double m = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return m * mag;
}

// A value with about 3 significant digits ("1234", "45.6", "0.123").
inline std::string short_number(double v) {
  const double a = std::fabs(v);
  if (a >= 100 || a == 0) return strf("%.0f", v);
  if (a >= 10) return strf("%.1f", v);
  if (a >= 1) return strf("%.2f", v);
  return strf("%.3f", v);
}

namespace svg_detail {
constexpr double kWidth = 1080;
constexpr double kTitleH = 56;   // document title band
constexpr double kPanelH = 400;  // one panel, its own title and group labels included
constexpr double kPlotTop = 42;  // plot area offset inside a panel
constexpr double kPlotH = 300;
constexpr double kPlotLeft = 84;
constexpr double kPlotRight = kWidth - 265;
constexpr double kLegendX = kWidth - 250;
constexpr double kMaxBarW = 90;
constexpr const char* kRefColor = "#c0392b";
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
constexpr int kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

inline std::string f1(double v) { return strf("%.1f", v); }

// Tick label with as many decimals as a 1/2/5 step needs ("0", "0.5", "0.05").
inline std::string tick_label(double v, double step) {
  const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  return strf("%.*f", decimals, v);
}

inline void render_panel(std::string& o, const BarChart& c, double y0) {
  const double plot_w = kPlotRight - kPlotLeft;
  const double top = y0 + kPlotTop, bottom = top + kPlotH;
  // Y range: everything drawn must fit, with headroom for value labels.
  double vmax = 0;
  for (const auto& s : c.series) {
    for (double v : s.values)
      if (std::isfinite(v)) vmax = std::max(vmax, v);
    for (double v : s.hi)
      if (std::isfinite(v)) vmax = std::max(vmax, v);
  }
  for (const auto& l : c.lines) vmax = std::max(vmax, l.value);
  if (!(vmax > 0)) vmax = 1;
  const double step = nice_step(vmax * 1.12, 6);
  const double ymax = std::ceil(vmax * 1.12 / step) * step;
  auto ypix = [&](double v) { return bottom - std::clamp(v / ymax, 0.0, 1.0) * kPlotH; };

  o += "<g class=\"panel\">\n";
  o += "<text x=\"" + f1(kPlotLeft) + "\" y=\"" + f1(y0 + 24) +
       "\" font-size=\"16\" font-weight=\"bold\">" + xml_escape(c.title) + "</text>\n";
  // Grid lines and y tick labels.
  for (double v = 0; v <= ymax + step * 0.5; v += step) {
    const double y = ypix(v);
    o += "<line x1=\"" + f1(kPlotLeft) + "\" y1=\"" + f1(y) + "\" x2=\"" + f1(kPlotRight) +
         "\" y2=\"" + f1(y) + "\" stroke=\"#e0e0e0\" stroke-width=\"1\"/>\n";
    o += "<text class=\"tick\" x=\"" + f1(kPlotLeft - 8) + "\" y=\"" + f1(y + 4) +
         "\" text-anchor=\"end\" font-size=\"12\">" + tick_label(v, step) + "</text>\n";
  }
  // Axes.
  o += "<line x1=\"" + f1(kPlotLeft) + "\" y1=\"" + f1(top) + "\" x2=\"" + f1(kPlotLeft) +
       "\" y2=\"" + f1(bottom) + "\" stroke=\"#333\" stroke-width=\"1.2\"/>\n";
  o += "<line x1=\"" + f1(kPlotLeft) + "\" y1=\"" + f1(bottom) + "\" x2=\"" + f1(kPlotRight) +
       "\" y2=\"" + f1(bottom) + "\" stroke=\"#333\" stroke-width=\"1.2\"/>\n";
  const double ymid = top + kPlotH / 2;
  o += "<text x=\"" + f1(kPlotLeft - 58) + "\" y=\"" + f1(ymid) +
       "\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 " + f1(kPlotLeft - 58) +
       " " + f1(ymid) + ")\">" + xml_escape(c.y_label) + "</text>\n";

  // Bars: each group gets 80% of its slot, split among the series.
  const size_t ng = std::max<size_t>(1, c.groups.size());
  const size_t ns = std::max<size_t>(1, c.series.size());
  const double group_w = plot_w / static_cast<double>(ng);
  const double bar_w = std::min(kMaxBarW, group_w * 0.8 / static_cast<double>(ns));
  const double bars_left = (group_w - bar_w * static_cast<double>(ns)) / 2;  // centres the bars
  size_t longest = 0;
  for (const auto& g : c.groups) longest = std::max(longest, g.size());
  const bool rotate = static_cast<double>(longest) * 7.5 > group_w;
  for (size_t g = 0; g < c.groups.size(); ++g) {
    const double gx = kPlotLeft + group_w * static_cast<double>(g);
    for (size_t s = 0; s < c.series.size(); ++s) {
      const auto& se = c.series[s];
      if (g >= se.values.size() || !std::isfinite(se.values[g])) continue;
      const double v = se.values[g];
      const double x = gx + bars_left + bar_w * static_cast<double>(s);
      const double y = ypix(v);
      o += "<rect class=\"bar\" x=\"" + f1(x) + "\" y=\"" + f1(y) + "\" width=\"" +
           f1(std::max(1.0, bar_w - 1)) + "\" height=\"" + f1(bottom - y) + "\" fill=\"" +
           kPalette[s % kPaletteSize] + "\"><title>" +
           xml_escape(se.name + " / " + c.groups[g] + ": " + short_number(v)) + "</title></rect>\n";
      double label_top = y;
      if (g < se.lo.size() && g < se.hi.size() && std::isfinite(se.lo[g]) &&
          std::isfinite(se.hi[g])) {
        const double cx = x + bar_w / 2, y1 = ypix(se.lo[g]), y2 = ypix(se.hi[g]);
        o += "<path class=\"errbar\" d=\"M" + f1(cx) + " " + f1(y1) + "V" + f1(y2) + "M" +
             f1(cx - 3) + " " + f1(y1) + "H" + f1(cx + 3) + "M" + f1(cx - 3) + " " + f1(y2) + "H" +
             f1(cx + 3) + "\" stroke=\"#222\" stroke-width=\"1\" fill=\"none\"/>\n";
        label_top = std::min(label_top, y2);
      }
      if (bar_w >= 22)
        o += "<text class=\"value\" x=\"" + f1(x + bar_w / 2) + "\" y=\"" + f1(label_top - 4) +
             "\" text-anchor=\"middle\" font-size=\"10\" fill=\"#333\">" + short_number(v) +
             "</text>\n";
    }
    const double lx = gx + group_w / 2, ly = bottom + 18;
    if (rotate)
      o += "<text class=\"group\" x=\"" + f1(lx) + "\" y=\"" + f1(ly) +
           "\" text-anchor=\"end\" font-size=\"12\" transform=\"rotate(-35 " + f1(lx) + " " +
           f1(ly) + ")\">" + xml_escape(c.groups[g]) + "</text>\n";
    else
      o += "<text class=\"group\" x=\"" + f1(lx) + "\" y=\"" + f1(ly) +
           "\" text-anchor=\"middle\" font-size=\"12\">" + xml_escape(c.groups[g]) + "</text>\n";
  }
  // Reference lines (dashed), labelled at the right end just above the line.
  for (const auto& l : c.lines) {
    const double y = ypix(l.value);
    o += "<line class=\"refline\" x1=\"" + f1(kPlotLeft) + "\" y1=\"" + f1(y) + "\" x2=\"" +
         f1(kPlotRight) + "\" y2=\"" + f1(y) + "\" stroke=\"" + kRefColor +
         "\" stroke-width=\"1.6\" stroke-dasharray=\"6 4\"/>\n";
    o += "<text class=\"reflabel\" x=\"" + f1(kPlotRight - 4) + "\" y=\"" + f1(y - 5) +
         "\" text-anchor=\"end\" font-size=\"11\" fill=\"" + kRefColor + "\">" +
         xml_escape(l.label) + "</text>\n";
  }
  // Legend.
  double ly = top + 8;
  for (size_t s = 0; s < c.series.size(); ++s, ly += 20) {
    o += "<rect x=\"" + f1(kLegendX) + "\" y=\"" + f1(ly) +
         "\" width=\"12\" height=\"12\" fill=\"" + kPalette[s % kPaletteSize] + "\"/>\n";
    o += "<text class=\"legend\" x=\"" + f1(kLegendX + 18) + "\" y=\"" + f1(ly + 10.5) +
         "\" font-size=\"12\">" + xml_escape(c.series[s].name) + "</text>\n";
  }
  for (const auto& l : c.lines) {
    o += "<line x1=\"" + f1(kLegendX) + "\" y1=\"" + f1(ly + 6) + "\" x2=\"" + f1(kLegendX + 12) +
         "\" y2=\"" + f1(ly + 6) + "\" stroke=\"" + kRefColor +
         "\" stroke-width=\"1.6\" stroke-dasharray=\"3 2\"/>\n";
    o += "<text class=\"legend\" x=\"" + f1(kLegendX + 18) + "\" y=\"" + f1(ly + 10.5) +
         "\" font-size=\"12\">" + xml_escape(l.label) + "</text>\n";
    ly += 20;
  }
  o += "</g>\n";
}
}  // namespace svg_detail

// A standalone SVG document: `title` (and a smaller `subtitle`) on top, then the panels
// stacked vertically.
inline std::string render_svg(const std::vector<BarChart>& panels, const std::string& title,
                              const std::string& subtitle = "") {
  using namespace svg_detail;
  const double height = kTitleH + kPanelH * static_cast<double>(std::max<size_t>(1, panels.size()));
  std::string o = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + f1(kWidth) + "\" height=\"" +
       f1(height) + "\" viewBox=\"0 0 " + f1(kWidth) + " " + f1(height) +
       "\" font-family=\"Helvetica, Arial, sans-serif\">\n";
  o += "<rect x=\"0\" y=\"0\" width=\"" + f1(kWidth) + "\" height=\"" + f1(height) +
       "\" fill=\"white\"/>\n";
  o += "<text x=\"" + f1(kWidth / 2) +
       "\" y=\"28\" text-anchor=\"middle\" font-size=\"19\" font-weight=\"bold\">" +
       xml_escape(title) + "</text>\n";
  if (!subtitle.empty())
    o += "<text x=\"" + f1(kWidth / 2) +
         "\" y=\"46\" text-anchor=\"middle\" font-size=\"12\" fill=\"#555\">" +
         xml_escape(subtitle) + "</text>\n";
  for (size_t i = 0; i < panels.size(); ++i)
    render_panel(o, panels[i], kTitleH + kPanelH * static_cast<double>(i));
  o += "</svg>\n";
  return o;
}

// An HTML page that shows `svg` inline (for --plot FILE.html).
inline std::string wrap_html(const std::string& svg, const std::string& title) {
  std::string body = svg;
  if (body.rfind("<?xml", 0) == 0) body = body.substr(body.find('\n') + 1);
  return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"/><title>" + xml_escape(title) +
         "</title></head>\n<body style=\"margin:0;background:#fff\">\n" + body + "</body></html>\n";
}

}  // namespace petrel::bench
