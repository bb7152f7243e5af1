// hil-peer-flood: a hostile peer for measuring how much memory one message makes hil-search hold
// (not a test). It connects a DEALER to the host, optionally says HELLO first (as an agent of
// --board, with its own --id as routing id) and optionally authenticates with CURVE, then sends
// one multipart message of --frames frames of --frame-bytes bytes each and waits --linger-ms.
// Read the host's peak RSS (VmHWM in /proc/PID/status) afterwards; host/README.md has figures.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "base/cli.h"
#include "protocol/curve_keys.h"
#include "protocol/message.h"

namespace {

namespace proto = hilq::protocol;

int run(int argc, char** argv) {
  CLI::App app{"Sends hil-search one large multipart message, before or after HELLO.",
               "hil-peer-flood"};
  hilq::cli::configure(app);
  std::string endpoint = "tcp://127.0.0.1:5555", id = "flood", board = "local", key_file,
              server_key;
  int frames = 40;
  int64_t frame_bytes = int64_t{8} << 20;
  int linger_ms = 2000;
  bool hello = false;
  std::vector<std::string> features;
  app.add_option("--connect", endpoint, "the host's endpoint (default tcp://127.0.0.1:5555)")
      ->type_name("ENDPOINT");
  app.add_option("--id", id, "routing id and agent id (default flood)")->type_name("ID");
  app.add_option("--board", board, "board named in the HELLO (default local)")->type_name("NAME");
  app.add_flag("--hello", hello, "say HELLO (and wait for WELCOME) before the large message");
  app.add_option("--features", features, "CPU features the HELLO claims (default none)")
      ->type_name("LIST")
      ->delimiter(',');
  app.add_option("--frames", frames, "frames in the message (default 40)")
      ->type_name("N")
      ->check(CLI::Range(1, 100000));
  app.add_option("--frame-bytes", frame_bytes, "bytes per frame (default 8 MiB)")
      ->type_name("BYTES")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 32));
  app.add_option("--linger-ms", linger_ms, "wait this long after sending (default 2000)")
      ->type_name("MS")
      ->check(CLI::Range(0, 600000));
  CLI::Option* key =
      app.add_option("--curve-key", key_file, "this peer's key file (hil-keys)")->type_name("FILE");
  CLI::Option* server =
      app.add_option("--server-key", server_key, "the host's public key (Z85 or .pub file)")
          ->type_name("KEY");
  key->needs(server);
  server->needs(key);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return hilq::cli::parse_error_exit(app, e);
  }

  zmq::context_t ctx;
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::routing_id, id);
  s.set(zmq::sockopt::linger, linger_ms);
  s.set(zmq::sockopt::sndhwm, 0);
  if (!key_file.empty()) {
    const proto::KeyPair keys = proto::load_key_file(key_file);
    s.set(zmq::sockopt::curve_serverkey, proto::load_public_key(server_key));
    s.set(zmq::sockopt::curve_publickey, keys.public_z85);
    s.set(zmq::sockopt::curve_secretkey, keys.secret_z85);
  }
  s.connect(endpoint);
  auto send_frames = [&](const proto::Frames& f) {
    for (size_t i = 0; i < f.size(); ++i)
      s.send(zmq::buffer(f[i]),
             i + 1 < f.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  };
  if (hello) {
    proto::Hello h;
    h.agent_id = id;
    h.board = board;
#if defined(__aarch64__)
    h.arch = "aarch64";
#else
    h.arch = "x86_64";
#endif
    h.features = features;
    h.cores = 1024;
    h.memory_bytes = int64_t{1} << 40;
    h.agent_version = "hil-peer-flood";
    send_frames(proto::encode(proto::make_message(h)));
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    bool welcomed = false;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!welcomed && std::chrono::steady_clock::now() < until) {
      if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) <= 0) continue;
      proto::Frames f;
      zmq::message_t part;
      do {
        (void)s.recv(part);
        f.push_back(part.to_string());
      } while (part.more());
      welcomed = proto::decode(f).type == proto::MessageType::kWelcome;
    }
    if (!welcomed) {
      std::fprintf(stderr, "hil-peer-flood: no WELCOME within 10 s\n");
      return 1;
    }
  }
  const std::string frame(static_cast<size_t>(frame_bytes), '{');
  for (int i = 0; i < frames; ++i)
    s.send(zmq::buffer(frame), i + 1 < frames ? zmq::send_flags::sndmore : zmq::send_flags::none);
  std::this_thread::sleep_for(std::chrono::milliseconds(linger_ms));
  std::printf("sent %d frames of %lld bytes%s\n", frames, static_cast<long long>(frame_bytes),
              hello ? " after HELLO" : " before HELLO");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return hilq::cli::guard("hil-peer-flood", [&] { return run(argc, argv); });
}
