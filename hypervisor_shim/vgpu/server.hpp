// The device server's side of the frontend protocol (docs/specs/hix-gpu.md
// §10): one connected SOCK_SEQPACKET socket to the QEMU frontend, a Device,
// and a worker thread that runs the ring when a doorbell rings.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <thread>

#include "device.hpp"

namespace hix::vgpu {

class Server {
 public:
  // `fd` is a connected SOCK_SEQPACKET socket; the server owns it. The
  // device must have been built with inline_execution = false.
  Server(int fd, std::unique_ptr<Device> device, bool quiet);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves until the peer hangs up (returns 0) or the socket fails (1).
  int serve();
  std::uint32_t malformed() const { return malformed_; }

 private:
  void handle(std::span<const std::byte> msg, int passed_fd);
  void reply(std::uint32_t type, std::uint64_t tag, const void* payload, std::size_t len);
  void ack(std::uint32_t type, std::uint64_t tag, Status s);
  void reject(std::uint32_t type, std::uint64_t tag, Status s, const char* why);
  void worker();

  int fd_;
  std::unique_ptr<Device> dev_;
  bool quiet_;
  bool send_failed_ = false;
  std::uint32_t malformed_ = 0;

  // Lock order: wake_mu_ is a leaf (never held while calling the device).
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool doorbell_ = false;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace hix::vgpu
