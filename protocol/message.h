// The hilq wire protocol: every message is a list of ZeroMQ frames
//
//   ["HIL1", TYPE, JSON-BODY, blob...]
//
// TYPE is one of HELLO WELCOME READY JOB RESULT ERROR FETCH ARTIFACT HEARTBEAT BYE. The codec works
// on plain frames (no sockets) so it can be tested and fuzzed directly. decode() validates the
// envelope; the typed parse_*() functions validate each body field and throw ProtocolError naming
// the field, so a malformed message never reaches the logic behind it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/error.h"

namespace hilq::protocol {

inline constexpr const char* kMagic = "HIL1";
inline constexpr int kProtocolVersion = 1;
// Largest message either side accepts (ZMQ_MAXMSGSIZE and the decoder's own check).
inline constexpr int64_t kMaxMessageBytes = 64ll << 20;
// More frames than this, or JSON nested deeper than this, is refused before parsing (a deeply
// nested body would otherwise exhaust the parser's stack).
inline constexpr size_t kMaxFrames = 16;
inline constexpr int kMaxJsonDepth = 64;
// ARTIFACT chunks carry at most this many bytes; the agent asks for the next one with FETCH.
inline constexpr int64_t kArtifactChunkBytes = 1ll << 20;

enum class MessageType {
  kHello,
  kWelcome,
  kReady,
  kJob,
  kResult,
  kError,
  kFetch,
  kArtifact,
  kHeartbeat,
  kBye,
};

const char* to_string(MessageType type);
std::optional<MessageType> message_type_from_string(const std::string& name);

struct Message {
  MessageType type = MessageType::kHeartbeat;
  nlohmann::json body = nlohmann::json::object();
  std::vector<std::string> blobs;
};

using Frames = std::vector<std::string>;

Frames encode(const Message& message);
// Throws ProtocolError on a wrong magic, unknown type, body that is not a JSON object, or a
// message above kMaxMessageBytes.
Message decode(const Frames& frames);

// Error classes carried by ERROR messages (doc/protocol.md).
inline constexpr const char* kErrorBadRequest = "bad-request";
inline constexpr const char* kErrorArtifact = "artifact";
inline constexpr const char* kErrorRuntime = "runtime";
inline constexpr const char* kErrorTimeout = "timeout";
inline constexpr const char* kErrorVersion = "version";
// Host-side classes: the agent holding the job stopped heartbeating or vanished.
inline constexpr const char* kErrorAgentLost = "agent-lost";
// A RESULT the host refused: malformed or implausible (negative latency, p90 < p10, a count or
// byte figure below zero or beyond int64, a temperature outside physics, too many samples). It is
// a failed try of the agent that sent it, so the job goes to another agent.
inline constexpr const char* kErrorBadResult = "bad-result";
// Sent to a peer the host does not know (e.g. after a host restart): say HELLO again.
inline constexpr const char* kErrorNotRegistered = "not-registered";
// A HELLO refused because another live connection speaks for that agent id; the agent backs off
// and says HELLO again (the other connection may be its own, not yet reaped).
inline constexpr const char* kErrorIdInUse = "id-in-use";

// ---- Typed bodies ----------------------------------------------------------------------------

struct Hello {
  std::string agent_id;
  std::string board;
  std::string arch;
  std::vector<std::string> features;  // detected at run time on the agent
  int cores = 0;
  int64_t memory_bytes = 0;
  std::vector<std::string> power_backends;
  int protocol_version = kProtocolVersion;
  std::string agent_version;
};

struct Welcome {
  std::string run;  // host's run id, for the agent's logs
  int heartbeat_ms = 1000;
  int liveness = 5;  // heartbeats either side may miss before the peer counts as dead
  // Measurement settings from the board file: {"power": {"backend": ..., ...}, "pin": "0-3",
  // "idle_s": 0.2}; an empty object leaves the agent's own defaults.
  nlohmann::json board = nlohmann::json::object();
};

struct RepeatPolicy {
  int warmup = 3;
  int min_repeats = 10;
  int max_repeats = 10000;
  double min_time_s = 0.2;
};

struct Job {
  std::string job_id;
  std::string kind;             // "kernel-bench" (more kinds come with the runtime)
  std::string artifact_sha256;  // empty when the job needs no artifact
  nlohmann::json config = nlohmann::json::object();
  RepeatPolicy repeat;
};

struct ErrorReply {
  std::string job_id;  // empty when the error is not about a job
  std::string error_class;
  std::string message;
};

// FETCH: the agent asks for `max_bytes` of an artifact from `offset`; ARTIFACT answers with one
// chunk in blob 0 plus the artifact's total size (content-addressed by sha256, verified at the
// end).
struct Fetch {
  std::string sha256;
  int64_t offset = 0;
  int64_t max_bytes = kArtifactChunkBytes;
};

struct ArtifactChunk {
  std::string sha256;
  int64_t offset = 0;
  int64_t total_bytes = 0;
  std::string data;  // travels as blob 0
};

// A RESULT body is a job id plus a free JSON object of measurements; see agent/README.md.
struct Result {
  std::string job_id;
  nlohmann::json measurement = nlohmann::json::object();
};

Message make_message(const Hello& hello);
Message make_message(const Welcome& welcome);
Message make_message(const Job& job);
Message make_message(const ErrorReply& error);
Message make_message(const Result& result);
Message make_message(const Fetch& fetch);
Message make_message(const ArtifactChunk& chunk);
Message make_message(MessageType bodyless_type);  // READY, HEARTBEAT, BYE

// Each throws ProtocolError("<TYPE>: field '<name>' ...") on a missing or mistyped field.
Hello parse_hello(const Message& message);
Welcome parse_welcome(const Message& message);
Job parse_job(const Message& message);
ErrorReply parse_error(const Message& message);
Result parse_result(const Message& message);
Fetch parse_fetch(const Message& message);
ArtifactChunk parse_artifact(const Message& message);

// True for 64 lowercase hex digits, the only artifact name accepted.
bool is_sha256_hex(const std::string& text);
// Nesting depth of a JSON text (brackets outside strings), computed without recursion.
int json_nesting_depth(const std::string& text);

}  // namespace hilq::protocol
