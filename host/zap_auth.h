// ZAP handler (ZeroMQ RFC 27) for the host's CURVE socket: admits a client only when its public
// key is in the farm's allow-list, and names it with the list's entry (the ZAP user id, read back
// from each message's "User-Id" property). Without a handler libzmq would admit any key that
// completes the CURVE handshake (libzmq#2594), so CURVE is never enabled without one.
#pragma once

#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "protocol/board_spec.h"
#include "protocol/curve_keys.h"

namespace hilq::host {

class ZapHandler {
 public:
  // Binds inproc://zeromq.zap.01 in `context` before returning, so no handshake can slip past.
  ZapHandler(zmq::context_t& context, const std::vector<protocol::AllowedKey>& allowed);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  int accepted() const { return accepted_.load(); }
  int denied() const { return denied_.load(); }

 private:
  void serve();
  zmq::socket_t socket_;
  std::map<std::string, std::string> allowed_;  // Z85 public key -> name
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0}, denied_{0};
  std::thread thread_;
};

// How a run authenticates its agents (hil-search; see host/README.md "CURVE"):
//  - keys given (--curve-key): the host's pair, the --allow list;
//  - no keys, every board's agents started by this hil-search on this machine (a launch command
//    that runs {agent} or {agent_aarch64}): a key pair made for this run;
//  - --insecure-loopback: no CURVE, any process that reaches the loopback endpoint may join;
//  - otherwise a ConfigError naming the boards whose agents would join unauthenticated; binding
//    anything but loopback without --curve-key is refused whatever the boards.
// Either way, every agent this hil-search starts on this machine gets a key pair of its own for
// this run, admitted under its agent id and handed over in its environment (session_env).
struct CurvePlan {
  std::optional<protocol::KeyPair> host;
  std::vector<protocol::AllowedKey> allowed;
  std::map<std::string, protocol::KeyPair> launched;  // agent id -> its keys for this run
  // "HILQ_SESSION_KEYS=..." for an agent this host starts, none without CURVE.
  std::vector<std::string> session_env(const std::string& agent_id) const;
};
// `launched_ids`: board -> the ids of the agents this hil-search will start for it.
CurvePlan plan_curve(const std::string& endpoint, const std::string& key_file,
                     const std::string& allow_file, bool insecure,
                     const std::map<std::string, protocol::BoardSpec>& boards,
                     const std::map<std::string, std::vector<std::string>>& launched_ids);
// True when the board's launch command starts this build's agent on this machine.
bool launches_here(const protocol::BoardSpec& board);

// True for endpoints that cannot be reached from another machine: tcp on 127.0.0.0/8, ::1 or
// localhost, ipc:// and inproc://. Binding anything else requires CURVE keys.
bool is_loopback_endpoint(const std::string& endpoint);

// The endpoint to bind: "tcp://localhost:N" becomes "tcp://127.0.0.1:N", since libzmq binds
// only numeric addresses and interface names (no DNS: "localhost" would fail with "No such
// device"). Everything else is returned as given.
std::string bindable_endpoint(const std::string& endpoint);

}  // namespace hilq::host
