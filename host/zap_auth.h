// ZAP handler (ZeroMQ RFC 27) for the host's CURVE socket: admits a client only when its public
// key is in the farm's allow-list, and names it with the list's entry (the ZAP user id, read back
// from each message's "User-Id" property). Without a handler libzmq would admit any key that
// completes the CURVE handshake (libzmq#2594), so CURVE is never enabled without one.
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

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

// True for endpoints that cannot be reached from another machine: tcp on 127.0.0.0/8, ::1 or
// localhost, ipc:// and inproc://. Binding anything else requires CURVE keys.
bool is_loopback_endpoint(const std::string& endpoint);

// The endpoint to bind: "tcp://localhost:N" becomes "tcp://127.0.0.1:N", since libzmq binds
// only numeric addresses and interface names (no DNS: "localhost" would fail with "No such
// device"). Everything else is returned as given.
std::string bindable_endpoint(const std::string& endpoint);

}  // namespace hilq::host
