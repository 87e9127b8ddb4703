// One TCP connection to hixd (docs/specs/hix-session.md §2): requests go
// out as frames, each answered by exactly one reply, in order. Blocking,
// with a timeout on every send and receive.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "frame.hpp"
#include "result.hpp"

namespace hix::client {

class Connection {
 public:
  // Connects to host:port (an IPv4 address; "127.0.0.1" where run-vm
  // forwards hixd's port). `timeout_s` bounds each send and receive.
  static Result<Connection> connect(const std::string& host, std::uint16_t port,
                                    unsigned timeout_s = 600);
  Connection() = default;
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;

  bool is_open() const { return fd_ >= 0; }
  // Sends one request of `type` whose payload is `head` then `body`, and
  // reads its reply. A broken stream closes the connection.
  Result<Reply> request(std::uint16_t type, std::span<const std::uint8_t> head,
                        std::span<const std::uint8_t> body = {});
  void close();

 private:
  explicit Connection(int fd) : fd_(fd) {}
  Check send_all(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b,
                 std::span<const std::uint8_t> c);
  Check recv_all(std::span<std::uint8_t> out);
  int fd_ = -1;
};

}  // namespace hix::client
