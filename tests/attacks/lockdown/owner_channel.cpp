// The owner's channel (owner_channel.hpp): SOCK_SEQPACKET, one request per
// message, one reply each.
#include "owner_channel.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "attack_common.hpp"

namespace hix::lockdown {

namespace {

bool fill_address(sockaddr_un& addr, const std::string& path) {
  addr = sockaddr_un{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return true;
}

// A register named by a client: only offsets of the register table.
std::optional<gpu::Reg32> known_register(std::uint32_t offset) {
  for (const gpu::RegisterDesc& d : gpu::kRegisters) {
    if (gpu::offset_of(d.reg).value == offset) return d.reg;
  }
  return std::nullopt;
}

OwnerReply answer(GpuOwner& owner, const OwnerRequest& req) {
  OwnerReply reply{};
  const auto reg = known_register(req.offset);
  if (!reg || (req.op != OwnerOp::read && req.op != OwnerOp::write)) return reply;
  const OwnerAccess a = req.op == OwnerOp::read ? owner.read(*reg) : owner.write(*reg, req.value);
  reply.ok = a.ok() ? 1 : 0;
  reply.value = a.value;
  reply.isa_status = a.ecall.isa_status;
  return reply;
}

}  // namespace

std::optional<OwnerServer> OwnerServer::listen(const std::string& path) {
  sockaddr_un addr{};
  if (!fill_address(addr, path)) {
    errno = ENAMETOOLONG;
    return std::nullopt;
  }
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  ::unlink(path.c_str());
  // reinterpret_cast: the sockets API takes every address family as sockaddr.
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 8) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return std::nullopt;
  }
  return OwnerServer(fd, path);
}

OwnerServer::OwnerServer(OwnerServer&& other) noexcept
    : fd_(other.fd_), path_(std::move(other.path_)), clients_(std::move(other.clients_)) {
  other.fd_ = -1;
  other.clients_.clear();
}

OwnerServer::~OwnerServer() {
  for (const int c : clients_) ::close(c);
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
}

int OwnerServer::serve(GpuOwner& owner, int timeout_ms) {
  std::vector<pollfd> fds{{fd_, POLLIN, 0}};
  for (const int c : clients_) fds.push_back({c, POLLIN, 0});
  if (::poll(fds.data(), fds.size(), timeout_ms) <= 0) return 0;
  int answered = 0;
  std::vector<int> keep;
  // Requests one at a time: the enclave has one TCS.
  for (std::size_t i = 1; i < fds.size(); ++i) {
    const int c = fds[i].fd;
    if (fds[i].revents == 0) {
      keep.push_back(c);
      continue;
    }
    OwnerRequest req{};
    if (::recv(c, &req, sizeof req, 0) != static_cast<ssize_t>(sizeof req)) {
      ::close(c);  // the attacker is done (or sent garbage)
      continue;
    }
    const OwnerReply reply = answer(owner, req);
    ++answered;
    if (::send(c, &reply, sizeof reply, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof reply)) {
      ::close(c);
      continue;
    }
    keep.push_back(c);
  }
  if ((fds[0].revents & POLLIN) != 0) {
    const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c >= 0) keep.push_back(c);
  }
  clients_ = std::move(keep);
  return answered;
}

OwnerClient OwnerClient::connect(const char* path) {
  const char* p = path != nullptr ? path : std::getenv(kOwnerSocketEnv);
  if (p == nullptr)
    attacks::fail("no owner: run me under hix-gpu-owner --serve (%s)", kOwnerSocketEnv);
  sockaddr_un addr{};
  if (!fill_address(addr, p)) attacks::fail("owner socket path too long");
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  // reinterpret_cast: the sockets API takes every address family as sockaddr.
  if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    attacks::fail("owner socket %s: %s", p, std::strerror(errno));
  }
  return OwnerClient(fd);
}

OwnerClient::~OwnerClient() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<OwnerReply> OwnerClient::call(const OwnerRequest& request) {
  if (::send(fd_, &request, sizeof request, MSG_NOSIGNAL) != sizeof request) return std::nullopt;
  OwnerReply reply{};
  if (::recv(fd_, &reply, sizeof reply, 0) != sizeof reply) return std::nullopt;
  return reply;
}

std::optional<std::uint32_t> OwnerClient::read(gpu::Reg32 reg) {
  const auto r = call({OwnerOp::read, gpu::offset_of(reg).value, 0, 0});
  if (!r || r->ok == 0) return std::nullopt;
  return r->value;
}

bool OwnerClient::write(gpu::Reg32 reg, std::uint32_t value) {
  const auto r = call({OwnerOp::write, gpu::offset_of(reg).value, value, 0});
  return r && r->ok != 0;
}

}  // namespace hix::lockdown
