// A strict reader over one JSON object, shared by every parser of files and messages: each accessor
// checks presence, type and range, and its error names where the object came from, the field, the
// value it found and the rule it broke, e.g.
//   boards/pi5.json: cores = -1: must be an integer in [1, 4096]
//   HELLO: field 'cores' = "4": must be an integer in [1, 4096]
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"

namespace hilq {

class JsonReader {
 public:
  // `source` names where the object came from in messages ("boards/pi5.json", "HELLO"); errors are
  // thrown with `category` (config for files, protocol for messages, model for model files). Fields
  // of nested objects are named by their path ("power.backend"). Throws when `value` is not an
  // object.
  JsonReader(const nlohmann::json& value, std::string source,
             ErrorCategory category = ErrorCategory::kConfig, std::string path = "");

  const std::string& source() const { return source_; }
  const std::string& path() const { return path_; }  // "" at the top, "power." inside "power"
  const nlohmann::json& json() const { return object_; }
  bool has(const char* key) const { return object_.contains(key); }

  // Required fields: absent, mistyped or out of range is an error.
  int64_t integer(const char* key, int64_t lo = std::numeric_limits<int64_t>::min(),
                  int64_t hi = std::numeric_limits<int64_t>::max()) const;
  double number(const char* key, double lo = -std::numeric_limits<double>::max(),
                double hi = std::numeric_limits<double>::max()) const;
  std::string string(const char* key, size_t max_bytes = 1 << 20) const;
  bool boolean(const char* key) const;
  JsonReader object(const char* key) const;  // a nested object; its fields are "<key>.<field>"
  const nlohmann::json& array(const char* key, size_t max_items = 1 << 20) const;

  // Optional fields: absent gives the fallback; present must still be valid.
  int64_t integer_or(const char* key, int64_t fallback,
                     int64_t lo = std::numeric_limits<int64_t>::min(),
                     int64_t hi = std::numeric_limits<int64_t>::max()) const;
  double number_or(const char* key, double fallback,
                   double lo = -std::numeric_limits<double>::max(),
                   double hi = std::numeric_limits<double>::max()) const;
  std::string string_or(const char* key, const std::string& fallback,
                        size_t max_bytes = 1 << 20) const;
  bool boolean_or(const char* key, bool fallback) const;

  // Every field of the object must be one of `known`.
  void reject_unknown(std::initializer_list<const char*> known) const;

  // Throws this reader's error type: "<source>: field '<path><key>' = <value>: <rule>".
  [[noreturn]] void fail(const char* key, const std::string& rule) const;

 private:
  const nlohmann::json& field(const char* key) const;
  std::string shown(const char* key) const;  // the value, cut and escaped for a message

  const nlohmann::json& object_;
  std::string source_;
  ErrorCategory category_;
  std::string path_;
};

// Throws the error class of `category` (ConfigError, ProtocolError, ...) with `what`.
[[noreturn]] void throw_error(ErrorCategory category, const std::string& what);

}  // namespace hilq
