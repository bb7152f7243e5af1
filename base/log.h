// Log lines a peer can neither forge nor flood: every string a peer supplied goes through
// log_safe() (control characters escaped, cut to a length), and every line written per message
// goes through a LogLimiter (at most N lines a second per peer, then one "suppressed k" line).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>

namespace hilq {

// `text` for one log line: bytes outside printable ASCII become \xNN (so a newline or an escape
// sequence cannot start a forged line or repaint the terminal), backslash becomes \\, and more than
// `max_chars` input bytes are cut with "...(N bytes)" saying how long it was.
std::string log_safe(std::string_view text, size_t max_chars = 200);

// Per-peer rate limit of log lines. allow(peer) says whether a line about `peer` may be written
// now; past `lines_per_s` in one second it says no and counts, and the next allowed line about
// that peer is preceded by "<prefix>: suppressed k log lines about <peer>". At most `max_peers`
// peers are tracked (a peer that changes its id at every message shares one "*" bucket).
class LogLimiter {
 public:
  explicit LogLimiter(std::FILE* out, std::string prefix, int lines_per_s = 10,
                      size_t max_peers = 1024);
  bool allow(const std::string& peer);
  // Lines suppressed so far, all peers (for tests and the end-of-run summary).
  long long suppressed() const { return suppressed_total_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Window {
    Clock::time_point start;
    int lines = 0;
    long long suppressed = 0;
  };
  std::FILE* out_;
  std::string prefix_;
  int lines_per_s_;
  size_t max_peers_;
  std::map<std::string, Window> windows_;
  long long suppressed_total_ = 0;
};

}  // namespace hilq
