// Runs a sensor command as a fixed argv, never through a shell: the words are chosen on the board
// (an agent flag or a built-in default), so nothing received from the network can add a `;`, a
// pipe or a redirection to what runs.
#pragma once

#include <string>
#include <vector>

namespace hilq::agent {

// Splits a board-side flag value such as "vcgencmd pmic_read_adc" on blanks. No quoting and no
// expansion: a word is what lies between blanks. Throws std::invalid_argument on an empty value.
std::vector<std::string> split_command_words(const std::string& text);

struct CommandOutput {
  int exit_code = 0;   // the program's exit status (128 + signal when it was killed)
  std::string output;  // stdout and stderr together, cut at max_output_bytes
};

// Runs argv[0] (looked up on PATH) with argv[1..] directly (posix_spawnp), collecting stdout and
// stderr. A program that runs longer than timeout_ms is killed. Throws std::runtime_error when the
// program cannot be started (naming it and why) or was killed for the timeout.
CommandOutput run_command_argv(const std::vector<std::string>& argv, int timeout_ms = 5000,
                               size_t max_output_bytes = 1 << 20);

// The argv as one readable line (for messages and sources): words joined by single spaces.
std::string command_line_text(const std::vector<std::string>& argv);

}  // namespace hilq::agent
