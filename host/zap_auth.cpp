// ZAP allow-list handler (see zap_auth.h).
#include "host/zap_auth.h"

#include <array>
#include <cstdio>
#include <iterator>
#include <zmq_addon.hpp>

#include "base/error.h"

namespace hilq::host {

ZapHandler::ZapHandler(zmq::context_t& context, const std::vector<protocol::AllowedKey>& allowed)
    : socket_(context, zmq::socket_type::rep) {
  for (const auto& k : allowed) allowed_[k.public_z85] = k.name;
  socket_.set(zmq::sockopt::linger, 0);
  socket_.bind("inproc://zeromq.zap.01");
  thread_ = std::thread([this] { serve(); });
}

ZapHandler::~ZapHandler() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void ZapHandler::serve() {
  while (!stop_.load()) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    try {
      if (zmq::poll(&item, 1, std::chrono::milliseconds(50)) <= 0) continue;
    } catch (const zmq::error_t&) {
      continue;  // EINTR; ETERM cannot happen before our socket closes
    }
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait))
      continue;
    // Request: version, request id, domain, address, identity, mechanism, credentials...
    std::string version = !frames.empty() ? frames[0].to_string() : "";
    std::string request_id = frames.size() > 1 ? frames[1].to_string() : "";
    std::string status = "400", text = "denied", user_id;
    if (frames.size() >= 7 && version == "1.0" && frames[5].to_string() == "CURVE" &&
        frames[6].size() == 32) {
      char z85[41] = {0};
      zmq_z85_encode(z85, static_cast<const uint8_t*>(frames[6].data()), 32);
      auto it = allowed_.find(z85);
      if (it != allowed_.end()) {
        status = "200";
        text = "OK";
        user_id = it->second;
        accepted_.fetch_add(1);
      } else {
        text = "public key not in the farm's allow-list";
        denied_.fetch_add(1);
        std::fprintf(stderr,
                     "hil-search: refused a CURVE client from %s: key %s is not in the "
                     "allow-list\n",
                     frames[3].to_string().c_str(), z85);
      }
    } else {
      text = "only CURVE clients are admitted";
      denied_.fetch_add(1);
    }
    const std::string reply[] = {"1.0", request_id, status, text, user_id, ""};
    const std::array<zmq::const_buffer, 6> parts = {zmq::buffer(reply[0]), zmq::buffer(reply[1]),
                                                    zmq::buffer(reply[2]), zmq::buffer(reply[3]),
                                                    zmq::buffer(reply[4]), zmq::buffer(reply[5])};
    zmq::send_multipart(socket_, parts);
  }
}

bool launches_here(const protocol::BoardSpec& board) {
  return board.launch && (board.launch->find("{agent}") != std::string::npos ||
                          board.launch->find("{agent_aarch64}") != std::string::npos);
}

std::vector<std::string> CurvePlan::session_env(const std::string& agent_id) const {
  auto it = launched.find(agent_id);
  if (!host || it == launched.end()) return {};
  return {std::string(protocol::kSessionKeysEnv) + "=" +
          protocol::format_session_keys({it->second, host->public_z85})};
}

namespace {

protocol::KeyPair new_key_pair() {
  char public_z85[41] = {0}, secret_z85[41] = {0};
  if (zmq_curve_keypair(public_z85, secret_z85) != 0)
    throw ConfigError(std::string("cannot make CURVE keys: ") + zmq_strerror(zmq_errno()) +
                      " (a libzmq without CURVE? then --insecure-loopback)");
  return {public_z85, secret_z85};
}

}  // namespace

CurvePlan plan_curve(const std::string& endpoint, const std::string& key_file,
                     const std::string& allow_file, bool insecure,
                     const std::map<std::string, protocol::BoardSpec>& boards,
                     const std::map<std::string, std::vector<std::string>>& launched_ids) {
  CurvePlan plan;
  if (key_file.empty() && insecure) return plan;
  if (!key_file.empty()) {
    plan.host = protocol::load_key_file(key_file);
    if (!allow_file.empty()) plan.allowed = protocol::load_allow_list(allow_file);
  } else {
    if (!is_loopback_endpoint(endpoint))
      throw ConfigError("refusing to bind " + endpoint +
                        " without CURVE keys: only loopback runs may go without them (make keys "
                        "with hil-keys, then pass --curve-key HOST.key --allow ALLOW-LIST)");
    std::string remote;
    for (const auto& [name, board] : boards)
      if (!launches_here(board)) remote += (remote.empty() ? "" : ", ") + name;
    if (!remote.empty())
      throw ConfigError(
          "the agents of board(s) " + remote +
          " are not started by this hil-search on this machine, so without CURVE any process "
          "that reaches the endpoint could join as one of them: make keys with hil-keys and "
          "pass --curve-key HOST.key --allow ALLOW-LIST, or accept that on a loopback endpoint "
          "with --insecure-loopback");
    plan.host = new_key_pair();
  }
  for (const auto& [name, ids] : launched_ids) {
    auto board = boards.find(name);
    if (board == boards.end() || !launches_here(board->second)) continue;
    for (const auto& id : ids) {
      plan.launched[id] = new_key_pair();
      plan.allowed.push_back({plan.launched[id].public_z85, id});
    }
  }
  if (!key_file.empty() && plan.allowed.empty())
    throw ConfigError("--curve-key needs --allow FILE: the agents' public keys to admit");
  return plan;
}

bool is_loopback_endpoint(const std::string& endpoint) {
  if (endpoint.rfind("ipc://", 0) == 0 || endpoint.rfind("inproc://", 0) == 0) return true;
  if (endpoint.rfind("tcp://", 0) != 0) return false;
  std::string host = endpoint.substr(6);
  if (!host.empty() && host[0] == '[') {
    const auto close = host.find(']');
    return close != std::string::npos && host.substr(1, close - 1) == "::1";
  }
  host = host.substr(0, host.rfind(':'));
  if (host == "localhost") return true;
  if (host.rfind("127.", 0) != 0) return false;
  // 127.x.y.z with numeric parts only (not "127.example.com").
  for (char c : host)
    if (!(c == '.' || (c >= '0' && c <= '9'))) return false;
  return true;
}

std::string bindable_endpoint(const std::string& endpoint) {
  const std::string prefix = "tcp://localhost:";
  if (endpoint.rfind(prefix, 0) != 0) return endpoint;
  return "tcp://127.0.0.1:" + endpoint.substr(prefix.size());
}

}  // namespace hilq::host
