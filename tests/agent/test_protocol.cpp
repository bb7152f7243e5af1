// Protocol codec: round trips of every typed message and rejection of malformed frames.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>

#include "protocol/board_spec.h"
#include "protocol/curve_keys.h"
#include "protocol/health_check.h"
#include "protocol/message.h"

namespace proto = hilq::protocol;
using hilq::ProtocolError;

namespace {

proto::Message through_wire(const proto::Message& m) { return proto::decode(proto::encode(m)); }

proto::Hello sample_hello() {
  proto::Hello h;
  h.agent_id = "local-1";
  h.board = "local";
  h.arch = "x86_64";
  h.features = {"avx2", "avx512_vnni"};
  h.cores = 2;
  h.memory_bytes = int64_t{24} << 30;
  h.power_backends = {"rapl"};
  h.agent_version = "0.1.0";
  return h;
}

}  // namespace

TEST_CASE("A HELLO survives encoding and decoding unchanged", "[protocol]") {
  const proto::Hello in = sample_hello();
  const proto::Hello out = proto::parse_hello(through_wire(proto::make_message(in)));
  CHECK(out.agent_id == in.agent_id);
  CHECK(out.board == in.board);
  CHECK(out.arch == in.arch);
  CHECK(out.features == in.features);
  CHECK(out.cores == in.cores);
  CHECK(out.memory_bytes == in.memory_bytes);
  CHECK(out.power_backends == in.power_backends);
  CHECK(out.protocol_version == proto::kProtocolVersion);
}

TEST_CASE("JOB, RESULT, ERROR and WELCOME round trip with their fields", "[protocol]") {
  proto::Job job;
  job.job_id = "r1-local-3";
  job.kind = "kernel-bench";
  job.config = {{"op", "gemv"}, {"m", 256}, {"k", 768}};
  job.repeat = {5, 30, 1000, 0.5};
  const proto::Job j = proto::parse_job(through_wire(proto::make_message(job)));
  CHECK(j.job_id == job.job_id);
  CHECK(j.kind == job.kind);
  CHECK(j.config == job.config);
  CHECK(j.repeat.warmup == 5);
  CHECK(j.repeat.min_repeats == 30);
  CHECK(j.repeat.max_repeats == 1000);
  CHECK(j.repeat.min_time_s == Approx(0.5));

  proto::Result result{"r1-local-3", {{"latency", {{"median_ns", 1234.5}}}}};
  const proto::Result r = proto::parse_result(through_wire(proto::make_message(result)));
  CHECK(r.job_id == result.job_id);
  CHECK(r.measurement == result.measurement);

  proto::ErrorReply error{"r1-local-3", proto::kErrorRuntime, "kernel crashed"};
  const proto::ErrorReply e = proto::parse_error(through_wire(proto::make_message(error)));
  CHECK(e.job_id == error.job_id);
  CHECK(e.error_class == error.error_class);
  CHECK(e.message == error.message);

  const proto::Welcome w =
      proto::parse_welcome(through_wire(proto::make_message(proto::Welcome{"7", 250})));
  CHECK(w.run == "7");
  CHECK(w.heartbeat_ms == 250);
}

TEST_CASE("Blobs travel as extra frames after the JSON body", "[protocol]") {
  proto::Message m = proto::make_message(proto::MessageType::kArtifact);
  m.blobs = {std::string("\0\1\2binary", 9), ""};
  const proto::Frames frames = proto::encode(m);
  REQUIRE(frames.size() == 5);
  CHECK(frames[0] == "HIL1");
  CHECK(frames[1] == "ARTIFACT");
  const proto::Message back = proto::decode(frames);
  CHECK(back.blobs == m.blobs);
}

TEST_CASE("Malformed envelopes are rejected with a ProtocolError that says why", "[protocol]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(proto::decode({}), Contains("at least 3"));
  CHECK_THROWS_WITH(proto::decode({"HIL1", "HELLO"}), Contains("at least 3"));
  CHECK_THROWS_WITH(proto::decode({"HIL2", "HELLO", "{}"}), Contains("magic"));
  CHECK_THROWS_WITH(proto::decode({"HIL1", "SHOUT", "{}"}), Contains("unknown message type"));
  CHECK_THROWS_WITH(proto::decode({"HIL1", "JOB", "{not json"}), Contains("not valid JSON"));
  CHECK_THROWS_WITH(proto::decode({"HIL1", "JOB", "[1,2]"}), Contains("JSON object"));
  CHECK_THROWS_WITH(proto::decode({"HIL1", "JOB", "{}", std::string(proto::kMaxMessageBytes, 'x')}),
                    Contains("exceeds the limit"));
}

TEST_CASE("Typed parsers name the missing or mistyped field", "[protocol]") {
  using Catch::Matchers::Contains;
  proto::Message hello = proto::make_message(sample_hello());
  hello.body.erase("features");
  CHECK_THROWS_WITH(proto::parse_hello(hello), Contains("'features'") && Contains("missing"));

  hello = proto::make_message(sample_hello());
  hello.body["cores"] = "two";
  CHECK_THROWS_WITH(proto::parse_hello(hello), Contains("'cores'") && Contains("integer"));

  hello = proto::make_message(sample_hello());
  hello.body["cores"] = -1;
  CHECK_THROWS_WITH(proto::parse_hello(hello),
                    Contains("'cores' = -1") && Contains("must be an integer in [1, 4096]"));

  proto::Job job;
  job.job_id = "j";
  job.kind = "kernel-bench";
  proto::Message m = proto::make_message(job);
  m.body["repeat"]["min_time_s"] = -3;
  CHECK_THROWS_WITH(proto::parse_job(m), Contains("repeat.min_time_s"));
  m = proto::make_message(job);
  m.body["repeat"]["max_repeats"] = 1;
  m.body["repeat"]["min_repeats"] = 5;
  CHECK_THROWS_WITH(proto::parse_job(m), Contains("repeat.max_repeats"));
  m = proto::make_message(job);
  m.body["config"] = "gemv";
  CHECK_THROWS_WITH(proto::parse_job(m), Contains("'config'"));

  CHECK_THROWS_AS(proto::parse_job(proto::make_message(sample_hello())), ProtocolError);
}

TEST_CASE("Random and mutated frames never crash the decoder", "[protocol]") {
  std::mt19937 rng(42);
  const proto::Frames valid = proto::encode(proto::make_message(sample_hello()));
  int rejected = 0, accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    proto::Frames frames = valid;
    const int mutations = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < mutations; ++k) {
      auto& f = frames[rng() % frames.size()];
      switch (rng() % 4) {
        case 0:
          if (!f.empty()) f[rng() % f.size()] = static_cast<char>(rng());
          break;
        case 1:
          f.resize(rng() % (f.size() + 1));
          break;
        case 2:
          f.insert(f.begin() + static_cast<long>(rng() % (f.size() + 1)), static_cast<char>(rng()));
          break;
        case 3:
          if (frames.size() > 1 && rng() % 2)
            frames.pop_back();
          else
            frames.push_back("x");
          break;
      }
      if (frames.empty()) break;
    }
    try {
      const proto::Message m = proto::decode(frames);
      if (m.type == proto::MessageType::kHello) proto::parse_hello(m);
      ++accepted;
    } catch (const ProtocolError&) {
      ++rejected;
    }
  }
  CHECK(rejected > 1000);  // most mutations must be caught, none may crash
  CHECK(rejected + accepted == 3000);
}

TEST_CASE("FETCH and ARTIFACT round trip; bad hashes and overlong chunks are refused",
          "[protocol]") {
  using Catch::Matchers::Contains;
  const std::string sha(64, 'e');
  const proto::Fetch f =
      proto::parse_fetch(through_wire(proto::make_message(proto::Fetch{sha, 42, 1000})));
  CHECK(f.sha256 == sha);
  CHECK(f.offset == 42);
  CHECK(f.max_bytes == 1000);
  const proto::ArtifactChunk c = proto::parse_artifact(
      through_wire(proto::make_message(proto::ArtifactChunk{sha, 3, 10, "abcd"})));
  CHECK(c.data == "abcd");
  CHECK(c.total_bytes == 10);
  CHECK_THROWS_WITH(proto::parse_fetch(proto::make_message(proto::Fetch{"ABC", 0, 1})),
                    Contains("64 lowercase hex"));
  CHECK_THROWS_WITH(
      proto::parse_artifact(proto::make_message(proto::ArtifactChunk{sha, 8, 10, "abcd"})),
      Contains("runs past total_bytes"));
  proto::Message job = proto::make_message(proto::Job{"j", "noop", "not-a-hash", {}, {}});
  job.body["config"] = nlohmann::json::object();
  CHECK_THROWS_WITH(proto::parse_job(job), Contains("artifact_sha256"));
}

TEST_CASE("Deep nesting and too many frames are refused before parsing", "[protocol]") {
  using Catch::Matchers::Contains;
  CHECK(proto::json_nesting_depth(R"({"a": [1, {"b": "[[[["}]})") == 3);
  const std::string deep(100000, '[');
  CHECK_THROWS_WITH(proto::decode({"HIL1", "JOB", deep}), Contains("nests deeper"));
  proto::Frames many(20, "x");
  many[0] = "HIL1";
  many[1] = "JOB";
  many[2] = "{}";
  CHECK_THROWS_WITH(proto::decode(many), Contains("at most 16"));
}

TEST_CASE("WELCOME carries heartbeat, liveness and the board's measurement settings",
          "[protocol]") {
  const proto::Welcome w = proto::parse_welcome(through_wire(proto::make_message(
      proto::Welcome{"3", 100, 7, {{"power", {{"backend", "hwmon"}}}, {"pin", "2-3"}}})));
  CHECK(w.liveness == 7);
  CHECK(w.board["pin"] == "2-3");
  proto::Message old = proto::make_message(proto::Welcome{"3", 100, 7, {}});
  old.body.erase("liveness");
  old.body.erase("board");
  CHECK(proto::parse_welcome(old).liveness == 5);  // an older host's WELCOME still parses
}

TEST_CASE("The health check's answer is pinned: any machine computes the same", "[protocol]") {
  const auto config = proto::health_check_config(0x5eed, 4096);
  const proto::HealthAnswer a = proto::compute_health_answer(config);
  CHECK(a == proto::compute_health_answer(config));
  CHECK(proto::health_answer_matches(proto::to_json(a), a));
  proto::HealthAnswer wrong = a;
  wrong.dot += 1;
  CHECK_FALSE(proto::health_answer_matches(proto::to_json(wrong), a));
  CHECK_FALSE(proto::health_answer_matches(nlohmann::json::object(), a));
  CHECK_THROWS(proto::compute_health_answer({{"n", 0}, {"seed", 1}}));
  // Pinned: every agent build, x86_64 or aarch64, must give exactly this, or it is quarantined.
  CHECK(a.dot == 113601);
  CHECK(a.sha256 == "1c5c8763d51f45e76e5d7714579cb9c3ea02ae0ed06f43085d0b5101677da75d");
}

TEST_CASE("CURVE key files and allow-lists parse; malformed lines name file and line",
          "[protocol]") {
  using Catch::Matchers::Contains;
  const std::string dir =
      std::filesystem::temp_directory_path() / ("hilq_keys_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string pub = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";  // Z85 has '#', ':', ...
  const std::string sec = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
  std::ofstream(dir + "/a.key") << proto::format_key_file({pub, sec}, "a");
  const proto::KeyPair k = proto::load_key_file(dir + "/a.key");
  CHECK(k.public_z85 == pub);
  CHECK(k.secret_z85 == sec);
  CHECK(proto::load_public_key(dir + "/a.key") == pub);
  CHECK(proto::load_public_key(pub) == pub);
  std::ofstream(dir + "/allow.txt") << "# farm\n"
                                    << pub << " pi5-01  # lab bench\n\n"
                                    << "#zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz pixel\n";
  const auto allowed = proto::load_allow_list(dir + "/allow.txt");
  REQUIRE(allowed.size() == 2);  // a key may start with '#'
  CHECK(allowed[0].name == "pi5-01");
  CHECK(allowed[1].name == "pixel");
  std::ofstream(dir + "/bad.txt") << pub << " ok\nnot-a-key name\n";
  CHECK_THROWS_WITH(proto::load_allow_list(dir + "/bad.txt"), Contains("bad.txt:2"));
  CHECK_THROWS_WITH(proto::load_key_file(dir + "/missing.key"), Contains("missing.key"));
  std::filesystem::remove_all(dir);
}
