// Protocol codec: round trips of every typed message and rejection of malformed frames.
#include <catch2/catch.hpp>

#include <random>

#include "agent/protocol/message.h"

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

  const proto::Welcome w = proto::parse_welcome(through_wire(proto::make_message(proto::Welcome{"7", 250})));
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
  CHECK_THROWS_WITH(proto::parse_hello(hello), Contains("'cores'") && Contains("outside"));

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
          if (frames.size() > 1 && rng() % 2) frames.pop_back(); else frames.push_back("x");
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
