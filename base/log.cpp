// Escaped, cut and rate-limited log lines (see log.h).
#include "base/log.h"

#include <utility>

namespace hilq {

std::string log_safe(std::string_view text, size_t max_chars) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  const std::string_view shown = text.substr(0, max_chars);
  out.reserve(shown.size() + 16);
  for (const char ch : shown) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  if (text.size() > max_chars) out += "...(" + std::to_string(text.size()) + " bytes)";
  return out;
}

LogLimiter::LogLimiter(std::FILE* out, std::string prefix, int lines_per_s, size_t max_peers)
    : out_(out), prefix_(std::move(prefix)), lines_per_s_(lines_per_s), max_peers_(max_peers) {}

bool LogLimiter::allow(const std::string& peer) {
  const auto now = Clock::now();
  std::string key = log_safe(peer, 64);
  if (!windows_.contains(key) && windows_.size() >= max_peers_) {
    // Forget peers quiet for a second; if all are busy, the newcomer shares the "*" bucket.
    std::erase_if(windows_, [&](const auto& w) {
      return now - w.second.start >= std::chrono::seconds(1) && w.second.suppressed == 0;
    });
    if (windows_.size() >= max_peers_) key = "*";
  }
  Window& w = windows_[key];
  if (now - w.start >= std::chrono::seconds(1)) {
    if (w.suppressed > 0 && out_)
      std::fprintf(out_, "%s: suppressed %lld log lines about %s\n", prefix_.c_str(), w.suppressed,
                   key.c_str());
    w = Window{now, 0, 0};
  }
  if (w.lines < lines_per_s_) {
    ++w.lines;
    return true;
  }
  ++w.suppressed;
  ++suppressed_total_;
  return false;
}

}  // namespace hilq
