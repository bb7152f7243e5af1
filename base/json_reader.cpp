// The strict JSON object reader (see json_reader.h).
#include "base/json_reader.h"

#include <cmath>

namespace hilq {

void throw_error(ErrorCategory category, const std::string& what) {
  switch (category) {
    case ErrorCategory::kConfig:
      throw ConfigError(what);
    case ErrorCategory::kModel:
      throw ModelError(what);
    case ErrorCategory::kData:
      throw DataError(what);
    case ErrorCategory::kProtocol:
      throw ProtocolError(what);
    case ErrorCategory::kDevice:
      throw DeviceError(what);
    case ErrorCategory::kUsage:
      throw UsageError(what);
    case ErrorCategory::kRuntime:
      break;
  }
  throw Error(what);
}

JsonReader::JsonReader(const nlohmann::json& value, std::string source, ErrorCategory category,
                       std::string path)
    : object_(value), source_(std::move(source)), category_(category), path_(std::move(path)) {
  if (!object_.is_object()) {
    std::string got = object_.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
    if (got.size() > 60) got = got.substr(0, 60) + "...";
    const std::string what =
        path_.empty() ? "" : " field '" + path_.substr(0, path_.size() - 1) + "'";
    throw_error(category_, source_ + ":" + what + " expected a JSON object, got " + got);
  }
}

std::string JsonReader::shown(const char* key) const {
  // dump() escapes control characters and quotes, so a hostile value cannot forge log lines.
  std::string text = object_.at(key).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 60) + "...";
  return text;
}

void JsonReader::fail(const char* key, const std::string& rule) const {
  std::string what = source_ + ": field '" + path_ + key + "'";
  if (object_.contains(key)) what += " = " + shown(key);
  throw_error(category_, what + ": " + rule);
}

const nlohmann::json& JsonReader::field(const char* key) const {
  const auto it = object_.find(key);
  if (it == object_.end()) fail(key, "is missing");
  return *it;
}

int64_t JsonReader::integer(const char* key, int64_t lo, int64_t hi) const {
  const nlohmann::json& v = field(key);
  const auto rule = [&] {
    return "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  };
  // Unsigned values above INT64_MAX are out of every range; floats are never integers here.
  if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > INT64_MAX))
    fail(key, rule());
  const int64_t n = v.get<int64_t>();
  if (n < lo || n > hi) fail(key, rule());
  return n;
}

double JsonReader::number(const char* key, double lo, double hi) const {
  const nlohmann::json& v = field(key);
  if (!v.is_number()) fail(key, "must be a number");
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi)
    fail(key,
         "must be a finite number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

std::string JsonReader::string(const char* key, size_t max_bytes) const {
  const nlohmann::json& v = field(key);
  if (!v.is_string()) fail(key, "must be a string");
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() > max_bytes) fail(key, "must be at most " + std::to_string(max_bytes) + " bytes");
  return s;
}

bool JsonReader::boolean(const char* key) const {
  const nlohmann::json& v = field(key);
  if (!v.is_boolean()) fail(key, "must be true or false");
  return v.get<bool>();
}

JsonReader JsonReader::object(const char* key) const {
  const nlohmann::json& v = field(key);
  if (!v.is_object()) fail(key, "must be an object");
  return JsonReader(v, source_, category_, path_ + key + ".");
}

const nlohmann::json& JsonReader::array(const char* key, size_t max_items) const {
  const nlohmann::json& v = field(key);
  if (!v.is_array()) fail(key, "must be an array");
  if (v.size() > max_items) fail(key, "must have at most " + std::to_string(max_items) + " items");
  return v;
}

int64_t JsonReader::integer_or(const char* key, int64_t fallback, int64_t lo, int64_t hi) const {
  return has(key) ? integer(key, lo, hi) : fallback;
}

double JsonReader::number_or(const char* key, double fallback, double lo, double hi) const {
  return has(key) ? number(key, lo, hi) : fallback;
}

std::string JsonReader::string_or(const char* key, const std::string& fallback,
                                  size_t max_bytes) const {
  return has(key) ? string(key, max_bytes) : fallback;
}

bool JsonReader::boolean_or(const char* key, bool fallback) const {
  return has(key) ? boolean(key) : fallback;
}

void JsonReader::reject_unknown(std::initializer_list<const char*> known) const {
  for (auto it = object_.begin(); it != object_.end(); ++it) {
    bool ok = false;
    for (const char* k : known) ok = ok || it.key() == k;
    if (!ok) {
      // dump() escapes control characters; the quotes it adds are dropped for the message.
      std::string name =
          nlohmann::json(it.key()).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
      name = name.substr(1, name.size() - 2);
      if (name.size() > 60) name = name.substr(0, 60) + "...";
      throw_error(category_, source_ + ": unknown field '" + path_ + name + "'");
    }
  }
}

}  // namespace hilq
