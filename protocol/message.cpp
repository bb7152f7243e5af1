// Frame codec and typed, validated message bodies (see message.h).
#include "protocol/message.h"

#include <algorithm>
#include <array>
#include <utility>

#include "base/json_reader.h"

namespace hilq::protocol {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<MessageType, const char*>, 10> kTypeNames = {{
    {MessageType::kHello, "HELLO"},
    {MessageType::kWelcome, "WELCOME"},
    {MessageType::kReady, "READY"},
    {MessageType::kJob, "JOB"},
    {MessageType::kResult, "RESULT"},
    {MessageType::kError, "ERROR"},
    {MessageType::kFetch, "FETCH"},
    {MessageType::kArtifact, "ARTIFACT"},
    {MessageType::kHeartbeat, "HEARTBEAT"},
    {MessageType::kBye, "BYE"},
}};

JsonReader body(const Message& m);

[[noreturn]] void fail(const Message& m, const std::string& field, const std::string& rule) {
  body(m).fail(field.c_str(), rule);
}

void expect_type(const Message& m, MessageType type) {
  if (m.type != type)
    throw ProtocolError(std::string("expected a ") + to_string(type) + " message, got " +
                        to_string(m.type));
}

// Every body field is read through the project's strict reader: errors name the message type,
// the field path, the (escaped, cut) value and the rule.
JsonReader body(const Message& m) {
  return JsonReader(m.body, to_string(m.type), ErrorCategory::kProtocol);
}

const json& field(const Message& m, const char* name) {
  const auto it = m.body.find(name);
  if (it == m.body.end()) body(m).fail(name, "is missing");
  return *it;
}

std::string get_string(const Message& m, const char* name, bool allow_empty = false) {
  const JsonReader r = body(m);
  std::string s = r.string(name);
  if (!allow_empty && s.empty()) r.fail(name, "must not be empty");
  return s;
}

std::string get_optional_string(const Message& m, const char* name) {
  return body(m).string_or(name, "");
}

int64_t get_int(const Message& m, const char* name, int64_t lo, int64_t hi) {
  return body(m).integer(name, lo, hi);
}

std::vector<std::string> get_string_list(const Message& m, const char* name) {
  const JsonReader r = body(m);
  std::vector<std::string> out;
  for (const json& e : r.array(name)) {
    if (!e.is_string()) r.fail(name, "must be an array of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace

const char* to_string(MessageType type) {
  for (const auto& [t, name] : kTypeNames)
    if (t == type) return name;
  return "?";
}

std::optional<MessageType> message_type_from_string(const std::string& name) {
  for (const auto& [t, n] : kTypeNames)
    if (name == n) return t;
  return std::nullopt;
}

Frames encode(const Message& message) {
  Frames frames;
  frames.reserve(3 + message.blobs.size());
  frames.emplace_back(kMagic);
  frames.emplace_back(to_string(message.type));
  frames.push_back(message.body.dump());
  for (const auto& blob : message.blobs) frames.push_back(blob);
  return frames;
}

Message decode(const Frames& frames) {
  if (frames.size() < 3)
    throw ProtocolError("message has " + std::to_string(frames.size()) +
                        " frames; at least 3 expected (magic, type, body)");
  int64_t total = 0;
  for (const auto& f : frames) total += static_cast<int64_t>(f.size());
  if (frames.size() > kMaxFrames)
    throw ProtocolError("message has " + std::to_string(frames.size()) + " frames; at most " +
                        std::to_string(kMaxFrames) + " are accepted");
  if (total > kMaxMessageBytes)
    throw ProtocolError("message of " + std::to_string(total) + " bytes exceeds the limit of " +
                        std::to_string(kMaxMessageBytes));
  if (frames[0] != kMagic)
    throw ProtocolError("bad magic frame (expected \"" + std::string(kMagic) +
                        "\"; a peer speaking another protocol version?)");
  auto type = message_type_from_string(frames[1]);
  if (!type) {
    std::string shown = frames[1].substr(0, 32);
    for (char& c : shown)
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
    throw ProtocolError("unknown message type \"" + shown + "\"");
  }
  Message m;
  m.type = *type;
  if (json_nesting_depth(frames[2]) > kMaxJsonDepth)
    throw ProtocolError(std::string(to_string(m.type)) + ": body nests deeper than " +
                        std::to_string(kMaxJsonDepth) + " levels");
  m.body = json::parse(frames[2], nullptr, /*allow_exceptions=*/false);
  if (m.body.is_discarded())
    throw ProtocolError(std::string(to_string(m.type)) + ": body is not valid JSON");
  if (!m.body.is_object())
    throw ProtocolError(std::string(to_string(m.type)) + ": body must be a JSON object");
  m.blobs.assign(frames.begin() + 3, frames.end());
  return m;
}

// ---- make_message ----------------------------------------------------------------------------

Message make_message(const Hello& h) {
  Message m{MessageType::kHello, json::object(), {}};
  m.body = {{"agent_id", h.agent_id},
            {"board", h.board},
            {"arch", h.arch},
            {"features", h.features},
            {"cores", h.cores},
            {"memory_bytes", h.memory_bytes},
            {"power_backends", h.power_backends},
            {"protocol_version", h.protocol_version},
            {"agent_version", h.agent_version}};
  return m;
}

Message make_message(const Welcome& w) {
  return {MessageType::kWelcome,
          {{"run", w.run},
           {"heartbeat_ms", w.heartbeat_ms},
           {"liveness", w.liveness},
           {"board", w.board}},
          {}};
}

Message make_message(const Fetch& f) {
  return {MessageType::kFetch,
          {{"sha256", f.sha256}, {"offset", f.offset}, {"max_bytes", f.max_bytes}},
          {}};
}

Message make_message(const ArtifactChunk& c) {
  return {MessageType::kArtifact,
          {{"sha256", c.sha256}, {"offset", c.offset}, {"total_bytes", c.total_bytes}},
          {c.data}};
}

Message make_message(const Job& j) {
  Message m{MessageType::kJob, json::object(), {}};
  m.body = {{"job_id", j.job_id},
            {"kind", j.kind},
            {"artifact_sha256", j.artifact_sha256},
            {"config", j.config},
            {"repeat",
             {{"warmup", j.repeat.warmup},
              {"min_repeats", j.repeat.min_repeats},
              {"max_repeats", j.repeat.max_repeats},
              {"min_time_s", j.repeat.min_time_s}}}};
  return m;
}

Message make_message(const ErrorReply& e) {
  return {MessageType::kError,
          {{"job_id", e.job_id}, {"class", e.error_class}, {"message", e.message}},
          {}};
}

Message make_message(const Result& r) {
  return {MessageType::kResult, {{"job_id", r.job_id}, {"measurement", r.measurement}}, {}};
}

Message make_message(MessageType type) { return {type, json::object(), {}}; }

// ---- parse_* ---------------------------------------------------------------------------------

Hello parse_hello(const Message& m) {
  expect_type(m, MessageType::kHello);
  Hello h;
  // The version is checked first so that a peer of another version gets the clearest error.
  h.protocol_version = static_cast<int>(get_int(m, "protocol_version", 0, 1 << 20));
  h.agent_id = get_string(m, "agent_id");
  if (h.agent_id.size() > 128) fail(m, "agent_id", "is longer than 128 characters");
  h.board = get_string(m, "board");
  h.arch = get_string(m, "arch");
  h.features = get_string_list(m, "features");
  h.cores = static_cast<int>(get_int(m, "cores", 1, 4096));
  h.memory_bytes = get_int(m, "memory_bytes", 1, int64_t{1} << 50);
  h.power_backends = get_string_list(m, "power_backends");
  h.agent_version = get_string(m, "agent_version");
  return h;
}

Welcome parse_welcome(const Message& m) {
  expect_type(m, MessageType::kWelcome);
  Welcome w;
  w.run = get_string(m, "run", /*allow_empty=*/true);
  w.heartbeat_ms = static_cast<int>(get_int(m, "heartbeat_ms", 10, 600000));
  if (m.body.contains("liveness")) w.liveness = static_cast<int>(get_int(m, "liveness", 1, 1000));
  if (auto it = m.body.find("board"); it != m.body.end()) {
    if (!it->is_object()) fail(m, "board", "must be a JSON object");
    w.board = *it;
  }
  return w;
}

Job parse_job(const Message& m) {
  expect_type(m, MessageType::kJob);
  Job j;
  j.job_id = get_string(m, "job_id");
  if (j.job_id.size() > 256) fail(m, "job_id", "is longer than 256 characters");
  j.kind = get_string(m, "kind");
  j.artifact_sha256 = get_optional_string(m, "artifact_sha256");
  if (!j.artifact_sha256.empty() && !is_sha256_hex(j.artifact_sha256))
    fail(m, "artifact_sha256", "must be 64 lowercase hex digits");
  const json& config = field(m, "config");
  if (!config.is_object()) fail(m, "config", "must be a JSON object");
  j.config = config;
  const JsonReader repeat = body(m).object("repeat");
  j.repeat.warmup = static_cast<int>(repeat.integer("warmup", 0, 1000000));
  j.repeat.min_repeats = static_cast<int>(repeat.integer("min_repeats", 1, 10000000));
  j.repeat.max_repeats =
      static_cast<int>(repeat.integer("max_repeats", j.repeat.min_repeats, 10000000));
  j.repeat.min_time_s = repeat.number("min_time_s", 0, 3600);
  return j;
}

ErrorReply parse_error(const Message& m) {
  expect_type(m, MessageType::kError);
  ErrorReply e;
  e.job_id = get_string(m, "job_id", /*allow_empty=*/true);
  e.error_class = get_string(m, "class");
  e.message = get_string(m, "message", /*allow_empty=*/true);
  return e;
}

Result parse_result(const Message& m) {
  expect_type(m, MessageType::kResult);
  Result r;
  r.job_id = get_string(m, "job_id");
  const json& meas = field(m, "measurement");
  if (!meas.is_object()) fail(m, "measurement", "must be a JSON object");
  r.measurement = meas;
  return r;
}

Fetch parse_fetch(const Message& m) {
  expect_type(m, MessageType::kFetch);
  Fetch f;
  f.sha256 = get_string(m, "sha256");
  if (!is_sha256_hex(f.sha256)) fail(m, "sha256", "must be 64 lowercase hex digits");
  f.offset = get_int(m, "offset", 0, int64_t{1} << 50);
  f.max_bytes = get_int(m, "max_bytes", 1, kArtifactChunkBytes);
  return f;
}

ArtifactChunk parse_artifact(const Message& m) {
  expect_type(m, MessageType::kArtifact);
  ArtifactChunk c;
  c.sha256 = get_string(m, "sha256");
  if (!is_sha256_hex(c.sha256)) fail(m, "sha256", "must be 64 lowercase hex digits");
  c.offset = get_int(m, "offset", 0, int64_t{1} << 50);
  c.total_bytes = get_int(m, "total_bytes", 0, int64_t{1} << 50);
  if (m.blobs.size() != 1) fail(m, "blob", "must be exactly one data frame");
  c.data = m.blobs[0];
  if (static_cast<int64_t>(c.data.size()) > kArtifactChunkBytes)
    fail(m, "blob", "is larger than a chunk");
  if (c.offset + static_cast<int64_t>(c.data.size()) > c.total_bytes)
    fail(m, "offset", "plus the chunk size runs past total_bytes");
  return c;
}

bool is_sha256_hex(const std::string& text) {
  if (text.size() != 64) return false;
  for (char c : text)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

int json_nesting_depth(const std::string& text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace hilq::protocol
