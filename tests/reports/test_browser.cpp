// report.html in a real browser: headless Chromium (Debian's `chromium`, installed by
// scripts/setup.sh) loads the search run's report and must log no console message (the page's
// policy turns any attempted load into one), lay out one plot per board and objective with the
// pick marked, fit a phone's width without scrolling the page sideways, and paint screenshots
// that are not blank. The screenshots are decoded by Chromium itself (a canvas over the PNG as a
// data: URL), so the test needs no image library.
//
// Hidden from the suite's default run ([.]): ctest runs it as `reports.browser`. Without Chromium
// it says "browser test skipped" (ctest reports it skipped), except in CI (CI set), where that is
// a failure.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "reports/run_report.h"
#include "tests/reports/search_run.h"

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// $HILQ_CHROMIUM, else the first of Debian's names on PATH; "" when there is none.
std::string find_chromium() {
  if (const char* env = std::getenv("HILQ_CHROMIUM"); env && *env) return env;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  std::vector<std::string> list;
  while (std::getline(dirs, dir, ':')) list.push_back(dir);
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"})
    for (const auto& d : list) {
      const fs::path candidate = fs::path(d) / name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
  return "";
}

std::string base64(const std::string& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += kAlphabet[(v >> k) & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    out += std::string{kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const uint32_t v =
        (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    out += std::string{kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63],
                       kAlphabet[(v >> 6) & 63], '='};
  }
  return out;
}

struct Browser {
  std::string exe;
  fs::path dir;  // profile and outputs
  // Runs Chromium headless on a file with `extra` flags; stdout to `out`, stderr to `log`.
  int run(const std::string& extra, const fs::path& page, const fs::path& out,
          const fs::path& log) const {
    const std::string cmd =
        "timeout 90 '" + exe +
        "' --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
        "--disable-background-networking --disable-component-update --disable-sync "
        "--user-data-dir='" +
        (dir / "profile").string() + "' " + extra + " 'file://" + page.string() + "' >'" +
        out.string() + "' 2>'" + log.string() + "'";
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
};

// Lines of Chromium's log that report a page console message.
std::vector<std::string> console_lines(const std::string& log) {
  std::vector<std::string> out;
  std::stringstream in(log);
  for (std::string line; std::getline(in, line);)
    if (line.find(":CONSOLE") != std::string::npos) out.push_back(line);
  return out;
}

// A page that draws a PNG (as a data: URL, so the canvas is not tainted) and writes its size,
// non-white pixel count and distinct colours into the DOM.
std::string png_probe_page(const std::string& png) {
  return "<!DOCTYPE html><html><body><img id='i' src='data:image/png;base64," + base64(png) +
         "'><pre id='r'>pending</pre><script>addEventListener('load',()=>{"
         "const i=document.getElementById('i'),c=document.createElement('canvas');"
         "c.width=i.naturalWidth;c.height=i.naturalHeight;const x=c.getContext('2d');"
         "x.drawImage(i,0,0);const d=x.getImageData(0,0,c.width,c.height).data;"
         "let n=0;const s=new Set();for(let k=0;k<d.length;k+=4){"
         "if(d[k]<245||d[k+1]<245||d[k+2]<245)n++;s.add((d[k]<<16)|(d[k+1]<<8)|d[k+2]);}"
         "document.getElementById('r').textContent=JSON.stringify({w:c.width,h:c.height,"
         "nonwhite:n,colours:s.size});});</script></body></html>";
}

nlohmann::json probe_result(const std::string& dom, const std::string& id) {
  const std::regex re("<pre id=\"" + id + "\">([^<]*)</pre>");
  std::smatch m;
  if (!std::regex_search(dom, m, re)) return nullptr;
  return nlohmann::json::parse(m[1].str(), nullptr, false);
}

}  // namespace

TEST_CASE(
    "report.html in headless Chromium: no console message, a plot per board and "
    "objective, the pick, a phone's width, screenshots that are not blank",
    "[.][browser]") {
  const std::string chromium = find_chromium();
  if (chromium.empty()) {
    if (std::getenv("CI")) FAIL("chromium is not installed: scripts/setup.sh installs it for CI");
    std::printf("browser test skipped: no chromium on PATH (scripts/setup.sh installs it)\n");
    SUCCEED("skipped");
    return;
  }
  Browser b{chromium, fs::temp_directory_path() / ("hilq_browser_" + std::to_string(getpid()))};
  fs::remove_all(b.dir);
  fs::create_directories(b.dir);
  {
    hilq::db::Database d(":memory:");
    const int64_t run = hilq::test::record_search_run(d);
    hilq::reports::write_run_report(d, run, (b.dir / "report").string());
  }
  const fs::path page = b.dir / "report" / "report.html";

  // 1. The page as written: no console message at all (errors, policy violations, warnings).
  REQUIRE(b.run("--enable-logging=stderr --v=0 --window-size=1280,2000 --dump-dom", page,
                b.dir / "dom.html", b.dir / "log.txt") == 0);
  const auto console = console_lines(slurp(b.dir / "log.txt"));
  for (const auto& line : console) UNSCOPED_INFO(line);
  CHECK(console.empty());
  const std::string dom = slurp(b.dir / "dom.html");
  REQUIRE(dom.find("</html>") != std::string::npos);
  std::multiset<std::string> plots;
  const std::regex svg_re(
      R"re(<svg[^>]*class="plot"[^>]*data-board="([^"]*)" data-objective="([^"]*)"[^>]*>)re");
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), svg_re); it != std::sregex_iterator();
       ++it)
    plots.insert((*it)[1].str() + "/" + (*it)[2].str());
  CHECK(plots == std::multiset<std::string>{"local/energy", "local/latency", "local/memory",
                                            "pi5-qemu/latency", "pi5-qemu/memory"});
  // The pick ringed on every board plot where it has a figure.
  size_t picks = 0;
  for (size_t at = dom.find("<circle class=\"pick\""); at != std::string::npos;
       at = dom.find("<circle class=\"pick\"", at + 1))
    ++picks;
  CHECK(picks == 4);  // latency and memory on each board; local's pick measured no energy
  CHECK(dom.find("data-objective=\"hypervolume\"") != std::string::npos);

  // 2. On a phone (390 px): the page does not scroll sideways and every plot has a size. The
  // probe needs a script, so it runs on a copy whose policy allows inline scripts.
  std::string copy = slurp(page);
  const std::string policy = "default-src 'none';";
  REQUIRE(copy.find(policy) != std::string::npos);
  copy.replace(copy.find(policy), policy.size(), "default-src 'none'; script-src 'unsafe-inline';");
  copy.replace(copy.find("</body>"), 7,
               "<script>addEventListener('load',()=>{const p=document.createElement('pre');"
               "p.id='probe';const s=[...document.querySelectorAll('svg.plot')];"
               "p.textContent=JSON.stringify({scroll:document.documentElement.scrollWidth,"
               "inner:innerWidth,plots:s.length,sized:s.filter(e=>{const r=e."
               "getBoundingClientRect();return r.width>200&&r.height>100;}).length});"
               "document.body.appendChild(p);});</script></body>");
  std::ofstream(b.dir / "report" / "probe.html", std::ios::binary) << copy;
  REQUIRE(b.run("--window-size=390,844 --dump-dom", b.dir / "report" / "probe.html",
                b.dir / "probe_dom.html", b.dir / "probe_log.txt") == 0);
  const auto probe = probe_result(slurp(b.dir / "probe_dom.html"), "probe");
  REQUIRE(probe.is_object());
  INFO(probe.dump());
  CHECK(probe["scroll"].get<int>() <= probe["inner"].get<int>());
  CHECK(probe["plots"].get<int>() == 7);  // five board plots and two of progress
  CHECK(probe["sized"].get<int>() == 7);

  // 3. Screenshots on a laptop and a phone, decoded: the right size, not blank.
  for (const auto& [name, size] : std::map<std::string, std::pair<int, int>>{
           {"laptop", {1280, 1600}}, {"phone", {390, 844}}}) {
    CAPTURE(name);
    const fs::path png = b.dir / (name + ".png");
    REQUIRE(b.run("--window-size=" + std::to_string(size.first) + "," +
                      std::to_string(size.second) + " --screenshot='" + png.string() + "'",
                  page, b.dir / "shot.out", b.dir / "shot.log") == 0);
    REQUIRE(fs::exists(png));
    std::ofstream(b.dir / "check.html", std::ios::binary) << png_probe_page(slurp(png));
    REQUIRE(b.run("--dump-dom", b.dir / "check.html", b.dir / "check_dom.html",
                  b.dir / "check.log") == 0);
    const auto shot = probe_result(slurp(b.dir / "check_dom.html"), "r");
    REQUIRE(shot.is_object());
    INFO(shot.dump());
    CHECK(shot["w"].get<int>() == size.first);
    CHECK(shot["h"].get<int>() == size.second);
    // A blank page is one colour; the report's header alone is dark and several percent of it.
    const double nonwhite =
        shot["nonwhite"].get<double>() / (shot["w"].get<double>() * shot["h"].get<double>());
    CHECK(nonwhite > 0.05);
    CHECK(shot["colours"].get<int>() > 32);
  }
  if (!std::getenv("HILQ_KEEP_BROWSER_FILES")) fs::remove_all(b.dir);
}
