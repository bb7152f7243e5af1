// Hostile peers (label `auth`): whatever answers on the endpoint an agent connects to must not be
// able to run anything on the board.
#include <catch2/catch.hpp>
#include <zmq_addon.hpp>

#include "tests/host/host_test_util.h"

using namespace hilq::test;
using nlohmann::json;

TEST_CASE("A WELCOME's power.command never reaches a shell on the board", "[auth]") {
  Sandbox box;
  const std::string marker = box.path("pwned");
  zmq::context_t ctx;
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  const std::string endpoint = router.get(zmq::sockopt::last_endpoint);
  // No --power override: the agent takes the backend the (fake) host names.
  Child agent(box, "agent",
              {agent_bin(), "--connect", endpoint, "--board", "local", "--id", "target",
               "--heartbeat-ms", "200", "--host-timeout", "30", "--cache-dir", box.path("cache")});
  auto recv_frames = [&](int ms) -> std::optional<proto::Frames> {
    zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(ms)) <= 0) return std::nullopt;
    std::vector<zmq::message_t> parts;
    (void)zmq::recv_multipart(router, std::back_inserter(parts));
    proto::Frames frames;
    for (size_t i = 1; i < parts.size(); ++i) frames.push_back(parts[i].to_string());
    return frames;
  };
  std::optional<proto::Frames> hello;
  REQUIRE(eventually([&] { return (hello = recv_frames(50)).has_value(); }, 10));
  REQUIRE(proto::decode(*hello).type == proto::MessageType::kHello);
  for (const std::string& command : {"vcgencmd pmic_read_adc; touch " + marker,
                                     "vcgencmd $(touch " + marker + ")", "touch " + marker}) {
    const json board = {{"power", {{"backend", "pi5-pmic"}, {"command", command}}}};
    proto::Frames welcome =
        proto::encode(proto::make_message(proto::Welcome{"hostile", 200, 50, board}));
    welcome.insert(welcome.begin(), "target");
    std::vector<zmq::const_buffer> buffers;
    for (const auto& f : welcome) buffers.push_back(zmq::buffer(f));
    REQUIRE(zmq::send_multipart(router, buffers));
  }
  // The agent configures its sensor on each WELCOME (a pi5-pmic sensor reads once at once), then
  // says READY; by the third READY every WELCOME has been handled.
  int readies = 0;
  REQUIRE(eventually(
      [&] {
        if (auto f = recv_frames(50))
          if (proto::decode(*f).type == proto::MessageType::kReady) ++readies;
        return readies >= 1 && agent.err().find("welcomed") != std::string::npos;
      },
      10));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  INFO(agent.err());
  CHECK_FALSE(fs::exists(marker));
  CHECK(agent.err().find("ignoring the host's power.command") != std::string::npos);
  kill(agent.pid, SIGTERM);
  CHECK(agent.wait_for(10).has_value());
}
