// Frontend protocol handling (docs/specs/hix-gpu.md §10).
//
// Threads: the serving thread reads the socket and drives the Device's MMIO
// and frontend entry points; the worker runs ring entries. The Device does
// its own locking; wake_mu_ only guards the doorbell flag.
#include "server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "hix/abi/vgpu_proto.h"

namespace hix::vgpu {
namespace {

template <class T>
bool take(std::span<const std::byte> payload, T& out) {
  if (payload.size() < sizeof(T)) return false;
  std::memcpy(&out, payload.data(), sizeof(T));
  return true;
}

}  // namespace

Server::Server(int fd, std::unique_ptr<Device> device, bool quiet)
    : fd_(fd), dev_(std::move(device)), quiet_(quiet) {
  dev_->set_doorbell_handler([this] {
    {
      const std::lock_guard lock(wake_mu_);
      doorbell_ = true;
    }
    wake_.notify_one();
  });
  worker_ = std::thread([this] { worker(); });
}

Server::~Server() {
  {
    const std::lock_guard lock(wake_mu_);
    stop_ = true;
  }
  wake_.notify_one();
  worker_.join();
  dev_->set_doorbell_handler(nullptr);
  close(fd_);
}

void Server::worker() {
  for (;;) {
    {
      std::unique_lock lock(wake_mu_);
      wake_.wait(lock, [this] { return doorbell_ || stop_; });
      if (stop_) return;
      doorbell_ = false;
    }
    while (dev_->has_pending()) dev_->run_pending();
  }
}

void Server::reply(std::uint32_t type, std::uint64_t tag, const void* payload, std::size_t len) {
  std::array<std::byte, HIX_VGPU_MSG_MAX> buf{};
  hix_vgpu_msg_header h{};
  h.type = type | HIX_VGPU_MSG_REPLY;
  h.size = static_cast<std::uint32_t>(len);
  h.tag = tag;
  std::memcpy(buf.data(), &h, sizeof h);
  if (len > 0) std::memcpy(buf.data() + sizeof h, payload, len);
  if (send(fd_, buf.data(), sizeof h + len, MSG_NOSIGNAL) < 0) send_failed_ = true;
}

void Server::ack(std::uint32_t type, std::uint64_t tag, Status s) {
  hix_vgpu_ack a{};
  a.status = code_of(s);
  reply(type, tag, &a, sizeof a);
}

void Server::reject(std::uint32_t type, std::uint64_t tag, Status s, const char* why) {
  if (malformed_ != UINT32_MAX) ++malformed_;
  if (!quiet_) {
    std::fprintf(stderr, "hix-vgpu-server: refused message type 0x%x: %s\n", type, why);
  }
  if (type != HIX_VGPU_MSG_MMIO_WRITE) ack(HIX_VGPU_MSG_NAK, tag, s);
}

void Server::handle(std::span<const std::byte> msg, int passed_fd) {
  hix_vgpu_msg_header h{};
  if (!take(msg, h) || h.size != msg.size() - sizeof h) {
    if (passed_fd >= 0) close(passed_fd);
    reject(h.type, h.tag, Status::invalid_arg, "header size mismatch");
    return;
  }
  const auto payload = msg.subspan(sizeof h);
  if (passed_fd >= 0 && h.type != HIX_VGPU_MSG_GUEST_RAM) {
    close(passed_fd);
    reject(h.type, h.tag, Status::invalid_arg, "unexpected file descriptor");
    return;
  }
  switch (static_cast<hix_vgpu_msg_type>(h.type)) {
    case HIX_VGPU_MSG_HELLO: {
      hix_vgpu_hello hello{};
      if (!take(payload, hello)) break;
      hix_vgpu_hello_reply r{};
      r.proto_version = HIX_VGPU_PROTO_VERSION;
      r.id = dev_->read32(gpu::Reg32::id);
      r.version = dev_->read32(gpu::Reg32::version);
      reply(h.type, h.tag, &r, sizeof r);
      return;
    }
    case HIX_VGPU_MSG_GUEST_RAM: {
      hix_vgpu_guest_ram g{};
      if (passed_fd < 0 || !take(payload, g) || g.count > HIX_VGPU_MAX_RAM_REGIONS ||
          payload.size() != sizeof g + g.count * sizeof(hix_vgpu_ram_region)) {
        if (passed_fd >= 0) close(passed_fd);
        break;
      }
      std::vector<hix_vgpu_ram_region> table(g.count);
      std::memcpy(table.data(), payload.data() + sizeof g, g.count * sizeof(hix_vgpu_ram_region));
      auto mem = MemfdGuestMemory::map_fd(passed_fd, table);
      close(passed_fd);  // the mappings keep the memory
      if (mem) dev_->attach_guest_memory(std::move(*mem));
      ack(h.type, h.tag, mem.status());
      return;
    }
    case HIX_VGPU_MSG_DMA_DENY: {
      hix_vgpu_dma_deny d{};
      if (!take(payload, d) || d.count > HIX_VGPU_MAX_DENY_RANGES ||
          payload.size() != sizeof d + d.count * sizeof(hix_vgpu_range)) {
        break;
      }
      std::vector<DenyRange> ranges;
      for (std::uint32_t i = 0; i < d.count; ++i) {
        hix_vgpu_range r{};
        std::memcpy(&r, payload.data() + sizeof d + i * sizeof r, sizeof r);
        ranges.push_back(DenyRange{GuestPhys{r.gpa}, r.size});
      }
      dev_->set_dma_deny(std::move(ranges));
      ack(h.type, h.tag, Status::ok);
      return;
    }
    case HIX_VGPU_MSG_MMIO_READ: {
      hix_vgpu_mmio_read r{};
      if (!take(payload, r)) break;
      hix_vgpu_mmio_read_reply v{};
      v.value = dev_->mmio_read(r.offset, r.size);
      reply(h.type, h.tag, &v, sizeof v);
      return;
    }
    case HIX_VGPU_MSG_MMIO_WRITE: {
      hix_vgpu_mmio_write w{};
      if (!take(payload, w)) break;
      dev_->mmio_write(w.offset, w.size, w.value);
      return;
    }
    case HIX_VGPU_MSG_SET_LOCK: {
      hix_vgpu_set_lock l{};
      if (!take(payload, l) || l.locked > 1) break;
      dev_->set_lock(l.locked == 1, l.owner);
      ack(h.type, h.tag, Status::ok);
      return;
    }
    case HIX_VGPU_MSG_RESET:
      dev_->reset();
      ack(h.type, h.tag, Status::ok);
      return;
    case HIX_VGPU_MSG_NAK:
      break;
  }
  reject(h.type, h.tag, Status::invalid_arg, "unknown type or malformed payload");
}

int Server::serve() {
  std::array<std::byte, HIX_VGPU_MSG_MAX> buf{};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * 4)> control{};
  for (;;) {
    iovec iov{buf.data(), buf.size()};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control.data();
    m.msg_controllen = control.size();
    const ssize_t n = recvmsg(fd_, &m, MSG_CMSG_CLOEXEC);
    if (n == 0) return 0;  // the frontend hung up
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == ECONNRESET ? 0 : 1;
    }
    // Collect passed descriptors; more than one is refused (all closed).
    int passed = -1;
    int extra = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (passed < 0) {
          passed = fd;
        } else {
          close(fd);
          ++extra;
        }
      }
    }
    const auto msg = std::span<const std::byte>(buf.data(), static_cast<std::size_t>(n));
    if ((m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || extra > 0) {
      if (passed >= 0) close(passed);
      hix_vgpu_msg_header h{};
      (void)take(msg, h);
      reject(h.type, h.tag, Status::invalid_arg, "truncated message or too many descriptors");
    } else {
      handle(msg, passed);
    }
    if (send_failed_) return 1;
  }
}

}  // namespace hix::vgpu
