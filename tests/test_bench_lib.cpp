// Unit tests of the benchmark's pure pieces (header-only in bench/lib): statistics, number
// formatting, table output (markdown/CSV/JSON), list parsing and the test cross product,
// and the SVG writer (well-formed, bars scaled, labels and legend present).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "bench/lib/params.h"
#include "bench/lib/stats.h"
#include "bench/lib/svg.h"
#include "bench/lib/table.h"
#include "bench/lib/units.h"

namespace petrel::bench {
namespace {

// Exact arithmetic on a handful of doubles: only rounding of the last bit can differ.
constexpr double kTol = 1e-12;
// Bar heights are written with one decimal (0.05 px rounding each), so a height compared
// with twice another can be off by 0.15 px.
constexpr double kPixelTol = 0.2;

// ---- stats ------------------------------------------------------------------------------

TEST(BenchStats, OddCount) {
  const Summary s = summarize({3.0, 1.0, 2.0});
  EXPECT_EQ(s.n, 3);
  EXPECT_NEAR(s.median, 2.0, kTol);
  EXPECT_NEAR(s.mean, 2.0, kTol);
  EXPECT_NEAR(s.sd, 1.0, kTol);
  EXPECT_EQ(s.min, 1.0);
  EXPECT_EQ(s.max, 3.0);
}

TEST(BenchStats, EvenCountMedianIsMiddleMean) {
  const Summary s = summarize({10.0, 1.0, 3.0, 2.0});
  EXPECT_NEAR(s.median, 2.5, kTol);
  EXPECT_NEAR(s.mean, 4.0, kTol);
  EXPECT_NEAR(s.sd, std::sqrt(50.0 / 3.0), kTol);  // sample sd, n - 1
  EXPECT_EQ(s.min, 1.0);
  EXPECT_EQ(s.max, 10.0);
}

TEST(BenchStats, EmptyAndSingle) {
  const Summary e = summarize({});
  EXPECT_EQ(e.n, 0);
  EXPECT_EQ(e.median, 0.0);
  const Summary one = summarize({5.0});
  EXPECT_EQ(one.n, 1);
  EXPECT_EQ(one.median, 5.0);
  EXPECT_EQ(one.sd, 0.0);
}

TEST(BenchStats, MappedSummaryUsesMappedMedian) {
  // seconds -> tokens/s for 100 tokens; the median of rates, not the rate of the median mean.
  const Summary s = summarize_mapped({1.0, 2.0, 4.0}, [](double sec) { return 100.0 / sec; });
  EXPECT_NEAR(s.median, 50.0, kTol);
  EXPECT_NEAR(s.min, 25.0, kTol);
  EXPECT_NEAR(s.max, 100.0, kTol);
}

// ---- units ------------------------------------------------------------------------------

TEST(BenchUnits, SizesLikeLlamaBench) {
  EXPECT_EQ(format_size(667080000), "636.18 MiB");
  EXPECT_EQ(format_size(4920000000ull), "4.58 GiB");
  EXPECT_EQ(format_size(1536), "1.50 KiB");
  EXPECT_EQ(format_size(12), "12 B");
}

TEST(BenchUnits, Params) {
  EXPECT_EQ(format_params(1100048384), "1.10 B");
  EXPECT_EQ(format_params(135000000), "135.00 M");
  EXPECT_EQ(params_label(1100048384), "1B");
  EXPECT_EQ(params_label(1543714304), "1.5B");
  EXPECT_EQ(params_label(8030261248), "8B");
  EXPECT_EQ(params_label(135000000), "135M");
}

TEST(BenchUnits, SecondsAndPlusMinus) {
  EXPECT_EQ(format_seconds(12.34e-6), "12.3 us");
  EXPECT_EQ(format_seconds(4.5678e-3), "4.568 ms");
  EXPECT_EQ(format_seconds(1.5), "1.500 s");
  EXPECT_EQ(format_pm(123.456, 1.2), "123.46 ± 1.20");
}

// ---- table ------------------------------------------------------------------------------

Table sample_table() {
  Table t;
  t.columns = {{"model", "model"},
               {"size_bytes", "size", Align::kRight},
               {"tps", "t/s", Align::kRight, Shown::kHuman},
               {"tps_median", "", Align::kRight, Shown::kMachine}};
  t.add_row(
      {"llama 1B Q4_K_M", Cell("636.18 MiB", 667080000), "123.46 ± 1.20", Cell::num(123.456, 3)});
  t.add_row({"a,\"quoted\" name", Cell("1.00 GiB", 1073741824), "9.00 ± 0.10", Cell::num(9.0, 3)});
  return t;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(BenchTable, MarkdownShape) {
  const std::string md = to_markdown(sample_table());
  const auto lines = lines_of(md);
  ASSERT_EQ(lines.size(), 4u);  // header, separator, 2 rows
  EXPECT_EQ(lines[0].rfind("| model", 0), 0u);
  EXPECT_NE(lines[0].find("t/s"), std::string::npos);
  EXPECT_EQ(md.find("tps_median"), std::string::npos);  // machine-only column hidden
  EXPECT_EQ(md.find("123.456"), std::string::npos);
  EXPECT_NE(lines[1].find("-:"), std::string::npos);  // right-aligned numbers
  EXPECT_EQ(lines[1].find(":-"), std::string::npos);
  // Every line has the same display width and the same number of '|'.
  for (const auto& l : lines) {
    EXPECT_EQ(detail::display_width(l), detail::display_width(lines[0])) << l;
    EXPECT_EQ(std::count(l.begin(), l.end(), '|'), 4) << l;
  }
  EXPECT_NE(lines[2].find("| 636.18 MiB |"), std::string::npos) << lines[2];
  EXPECT_NE(lines[3].find("|   1.00 GiB |"), std::string::npos) << lines[3];
}

TEST(BenchTable, CsvShapeAndQuoting) {
  const auto lines = lines_of(to_csv(sample_table()));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "model,size_bytes,tps_median");  // human-only column dropped
  EXPECT_EQ(lines[1], "llama 1B Q4_K_M,667080000,123.456");
  EXPECT_EQ(lines[2], "\"a,\"\"quoted\"\" name\",1073741824,9.0");
}

TEST(BenchTable, JsonShape) {
  const auto j = nlohmann::json::parse(format_table(sample_table(), OutputFormat::kJson));
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["model"], "llama 1B Q4_K_M");
  EXPECT_TRUE(j[0]["size_bytes"].is_number_integer());
  EXPECT_EQ(j[0]["size_bytes"].get<uint64_t>(), 667080000u);
  EXPECT_NEAR(j[0]["tps_median"].get<double>(), 123.456, kTol);
  EXPECT_FALSE(j[0].contains("tps"));
  EXPECT_EQ(j[0].size(), 3u);
}

TEST(BenchTable, RowSizeAndFormatErrors) {
  Table t = sample_table();
  EXPECT_THROW(t.add_row({"only", "two"}), Error);
  EXPECT_EQ(parse_output_format("md"), OutputFormat::kMarkdown);
  EXPECT_EQ(parse_output_format("csv"), OutputFormat::kCsv);
  EXPECT_EQ(parse_output_format("json"), OutputFormat::kJson);
  try {
    parse_output_format("xml");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'xml'"), std::string::npos);
  }
}

TEST(BenchTable, NoneIsBlankInCsvAndNullInJson) {
  Table t;
  t.columns = {{"test", "test"}, {"gbps", "GB/s", Align::kRight}};
  t.add_row({"pp512", Cell::none()});
  t.add_row({"tg128", Cell::num(41.5, 2)});
  EXPECT_EQ(to_csv(t), "test,gbps\npp512,\ntg128,41.5\n");
  const auto j = nlohmann::json::parse(format_table(t, OutputFormat::kJson));
  EXPECT_TRUE(j[0]["gbps"].is_null());
  EXPECT_NEAR(j[1]["gbps"].get<double>(), 41.5, kTol);
  EXPECT_NE(to_markdown(t).find("| pp512 |       |"), std::string::npos) << to_markdown(t);
}

// ---- params -----------------------------------------------------------------------------

TEST(BenchParams, SplitAndParseLists) {
  EXPECT_EQ(split_list({"1,2", " 3 ", "4,,5"}),
            (std::vector<std::string>{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(parse_int_list({"128,512", "0"}, "-p"), (std::vector<int>{128, 512, 0}));
  try {
    parse_int_list({"12x"}, "-p");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("-p: '12x'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_int_list({"-3"}, "-n"), Error);
}

TEST(BenchParams, CrossProductOrderAndSkips) {
  const auto tests = cross_product({"a.gguf", "b.gguf"}, {0, 512}, {128, 0, 16}, {4, 8});
  // 2 models x 2 thread counts x (1 pp + 2 tg), zeros skipped.
  ASSERT_EQ(tests.size(), 12u);
  EXPECT_EQ(tests[0].model, "a.gguf");
  EXPECT_EQ(tests[0].threads, 4);
  EXPECT_EQ(tests[0].name(), "pp512");
  EXPECT_EQ(tests[1].name(), "tg128");
  EXPECT_EQ(tests[2].name(), "tg16");
  EXPECT_EQ(tests[3].threads, 8);
  EXPECT_EQ(tests[6].model, "b.gguf");
  EXPECT_EQ(tests[11].name(), "tg16");
  EXPECT_TRUE(cross_product({"a"}, {0}, {0}, {1}).empty());
}

// ---- svg --------------------------------------------------------------------------------

// Checks that tags balance (<a>...</a>, <b/>, <?xml?>) and that text and attributes hold no
// raw '<' or unescaped '&'. Returns "" when well-formed, else what went wrong.
std::string xml_problem(const std::string& s) {
  std::vector<std::string> stack;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '&') {
      const size_t semi = s.find(';', i);
      const std::string ent = semi == std::string::npos ? "" : s.substr(i, semi - i + 1);
      if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" && ent != "&quot;" && ent != "&apos;")
        return "bad entity at " + std::to_string(i);
      i = semi + 1;
      continue;
    }
    if (s[i] != '<') {
      ++i;
      continue;
    }
    // Find the end of the tag, skipping quoted attribute values.
    size_t j = i + 1;
    char quote = 0;
    for (; j < s.size(); ++j) {
      if (quote) {
        if (s[j] == quote)
          quote = 0;
        else if (s[j] == '<')
          return "raw '<' in an attribute at " + std::to_string(j);
      } else if (s[j] == '"' || s[j] == '\'') {
        quote = s[j];
      } else if (s[j] == '>') {
        break;
      }
    }
    if (j >= s.size()) return "unterminated tag at " + std::to_string(i);
    const std::string tag = s.substr(i + 1, j - i - 1);
    const bool declaration = tag[0] == '?' || tag[0] == '!';  // <?xml ?>, <!DOCTYPE>
    if (declaration) {
      i = j + 1;
      continue;
    }
    if (tag[0] == '/') {
      const std::string name = tag.substr(1);
      if (stack.empty() || stack.back() != name) return "unbalanced </" + name + ">";
      stack.pop_back();
    } else if (tag.back() != '/') {
      stack.push_back(tag.substr(0, tag.find_first_of(" \n\t")));
    }
    i = j + 1;
  }
  return stack.empty() ? "" : "unclosed <" + stack.back() + ">";
}

size_t count_of(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

BarChart sample_chart() {
  BarChart c;
  c.title = "Weight read throughput";
  c.y_label = "GB/s";
  c.groups = {"Q4_K", "Q8_0", "F16"};
  c.series = {{"matvec (avx2)", {10.0, 20.0, NAN}, {9.0, 19.0, NAN}, {11.0, 21.0, NAN}},
              {"matmul (avx2)", {5.0, 2.5, 1.0}, {}, {}}};
  c.lines = {{40.0, "read bandwidth < 40 & up"}};
  return c;
}

TEST(BenchSvg, WellFormedWithBarsLabelsAndLegend) {
  const std::string svg =
      render_svg({sample_chart()}, "petrel bench kernels", "median; whiskers min-max");
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_EQ(count_of(svg, "class=\"bar\""), 5u);     // the NaN value draws no bar
  EXPECT_EQ(count_of(svg, "class=\"errbar\""), 2u);  // only the series with lo/hi
  EXPECT_EQ(count_of(svg, "class=\"refline\""), 1u);
  for (const char* g : {">Q4_K<", ">Q8_0<", ">F16<", ">matvec (avx2)<", ">matmul (avx2)<", ">GB/s<",
                        ">petrel bench kernels<", ">Weight read throughput<"})
    EXPECT_NE(svg.find(g), std::string::npos) << g;
  EXPECT_NE(svg.find("read bandwidth &lt; 40 &amp; up"), std::string::npos);  // escaped
  EXPECT_EQ(count_of(svg, "read bandwidth &lt; 40 &amp; up</text>"), 2u);  // on the line + legend
}

TEST(BenchSvg, BarHeightsAreProportional) {
  const std::string svg = render_svg({sample_chart()}, "t");
  std::regex bar_re(
      "class=\"bar\" x=\"[0-9.]+\" y=\"([0-9.]+)\" width=\"[0-9.]+\" height=\"([0-9.]+)\"");
  std::vector<double> heights, bottoms;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), bar_re); it != std::sregex_iterator();
       ++it) {
    heights.push_back(std::stod((*it)[2]));
    bottoms.push_back(std::stod((*it)[1]) + heights.back());
  }
  // Order: group Q4_K (10, 5), Q8_0 (20, 2.5), F16 (1).
  ASSERT_EQ(heights.size(), 5u);
  EXPECT_NEAR(heights[2], 2 * heights[0], kPixelTol);
  EXPECT_NEAR(heights[1], heights[0] / 2, kPixelTol);
  EXPECT_NEAR(heights[4], heights[0] / 10, kPixelTol);
  for (double b : bottoms) EXPECT_NEAR(b, bottoms[0], kPixelTol);  // common baseline
  // The reference line (40) sits 4x the 10-bar's height above the baseline.
  std::smatch m;
  std::regex line_re("class=\"refline\" x1=\"[0-9.]+\" y1=\"([0-9.]+)\"");
  ASSERT_TRUE(std::regex_search(svg, m, line_re));
  EXPECT_NEAR(bottoms[0] - std::stod(m[1]), 4 * heights[0], 4 * kPixelTol);
}

TEST(BenchSvg, EmptyChartAndHtmlWrapper) {
  const std::string svg = render_svg({BarChart{}}, "nothing");
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_EQ(count_of(svg, "class=\"bar\""), 0u);
  const std::string html = wrap_html(render_svg({sample_chart()}, "x"), "a & b");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html.find("<?xml"), std::string::npos);
  EXPECT_NE(html.find("<title>a &amp; b</title>"), std::string::npos);
  EXPECT_EQ(xml_problem(html.substr(html.find("<html>"))), "");
}

TEST(BenchSvg, NiceSteps) {
  EXPECT_DOUBLE_EQ(nice_step(100, 5), 20);
  EXPECT_DOUBLE_EQ(nice_step(7, 6), 2);
  EXPECT_DOUBLE_EQ(nice_step(0.3, 6), 0.05);
  EXPECT_EQ(xml_escape("<a href='x'>&\"</a>"), "&lt;a href=&apos;x&apos;&gt;&amp;&quot;&lt;/a&gt;");
}

}  // namespace
}  // namespace petrel::bench
