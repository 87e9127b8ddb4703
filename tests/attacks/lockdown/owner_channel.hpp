// The owner's channel: while hix-gpu-owner holds the lock, attackers in other
// processes ask it, over a UNIX socket, to read or write a register through
// the enclave. That is how an attacker sees whether its attack changed what
// the device's owner sees (e.g. SCRATCH after a forged write).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gpu_owner_host.hpp"

namespace hix::lockdown {

// The environment variable naming the socket for the owner's children.
inline constexpr const char* kOwnerSocketEnv = "HIX_OWNER_SOCKET";

enum class OwnerOp : std::uint32_t { read = 1, write = 2 };

struct OwnerRequest {
  OwnerOp op;
  std::uint32_t offset;  // BAR0 offset of the register
  std::uint32_t value;   // for write
  std::uint32_t reserved;
};

struct OwnerReply {
  std::uint32_t ok;     // 1: the ecall ran and returned HIX_ECALL_OK
  std::uint32_t value;  // read: the register's value
  std::uint64_t isa_status;
};

static_assert(sizeof(OwnerRequest) == 16 && sizeof(OwnerReply) == 16, "wire layout");

// The serving side: a listening SOCK_SEQPACKET socket.
class OwnerServer {
 public:
  // nullopt (errno set) when the socket cannot be created.
  static std::optional<OwnerServer> listen(const std::string& path);
  OwnerServer(OwnerServer&& other) noexcept;
  OwnerServer& operator=(OwnerServer&&) = delete;
  OwnerServer(const OwnerServer&) = delete;
  OwnerServer& operator=(const OwnerServer&) = delete;
  ~OwnerServer();

  // Waits up to `timeout_ms` for requests and answers those that came;
  // returns how many it answered. Connections stay open across calls.
  int serve(GpuOwner& owner, int timeout_ms);
  const std::string& path() const { return path_; }

 private:
  OwnerServer(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
  std::vector<int> clients_;
};

// The attacker's side.
class OwnerClient {
 public:
  // Connects to the socket named by kOwnerSocketEnv, or to `path`; ends the
  // process (exit 2) when it cannot.
  static OwnerClient connect(const char* path = nullptr);
  OwnerClient(OwnerClient&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  OwnerClient& operator=(OwnerClient&&) = delete;
  OwnerClient(const OwnerClient&) = delete;
  OwnerClient& operator=(const OwnerClient&) = delete;
  ~OwnerClient();

  // nullopt when the owner could not read (e.g. its enclave died).
  std::optional<std::uint32_t> read(gpu::Reg32 reg);
  bool write(gpu::Reg32 reg, std::uint32_t value);

 private:
  explicit OwnerClient(int fd) : fd_(fd) {}
  std::optional<OwnerReply> call(const OwnerRequest& request);
  int fd_ = -1;
};

}  // namespace hix::lockdown
