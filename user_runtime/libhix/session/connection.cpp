// The TCP connection to hixd (connection.hpp).
#include "connection.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

namespace hix::client {
namespace {

std::string errno_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

}  // namespace

Result<Connection> Connection::connect(const std::string& host, std::uint16_t port,
                                       unsigned timeout_s) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return fail(ErrorKind::usage, "not an IPv4 address: " + host);
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(ErrorKind::io, errno_text("socket"));
  Connection c(fd);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_s);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // reinterpret_cast: the sockets API takes the generic address type.
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return fail(ErrorKind::io,
                errno_text(("connect to " + host + ":" + std::to_string(port)).c_str()));
  }
  return c;
}

Connection::~Connection() {
  close();
}

Connection::Connection(Connection&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

void Connection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Check Connection::send_all(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b,
                           std::span<const std::uint8_t> c) {
  std::array<iovec, 3> iov{};
  std::array<std::span<const std::uint8_t>, 3> parts = {a, b, c};
  for (std::size_t i = 0; i < parts.size(); ++i) {
    // const_cast: iovec's base is not const, but sendmsg only reads it.
    iov[i].iov_base = const_cast<std::uint8_t*>(parts[i].data());
    iov[i].iov_len = parts[i].size();
  }
  std::size_t first = 0;
  while (first < iov.size()) {
    if (iov[first].iov_len == 0) {
      ++first;
      continue;
    }
    msghdr m{};
    m.msg_iov = iov.data() + first;
    m.msg_iovlen = iov.size() - first;
    const ssize_t n = ::sendmsg(fd_, &m, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorKind::io, errno_text("send to hixd"));
    }
    auto left = static_cast<std::size_t>(n);
    while (first < iov.size() && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      iov[first].iov_len = 0;
      ++first;
    }
    if (first < iov.size()) {
      iov[first].iov_base = static_cast<std::uint8_t*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return ok();
}

Check Connection::recv_all(std::span<std::uint8_t> out) {
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::recv(fd_, out.data() + got, out.size() - got, 0);
    if (n == 0) return fail(ErrorKind::io, "hixd closed the connection");
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return fail(ErrorKind::io, "no reply from hixd before the timeout");
      }
      return fail(ErrorKind::io, errno_text("receive from hixd"));
    }
    got += static_cast<std::size_t>(n);
  }
  return ok();
}

Result<Reply> Connection::request(std::uint16_t type, std::span<const std::uint8_t> head,
                                  std::span<const std::uint8_t> body) {
  if (fd_ < 0) return fail(ErrorKind::usage, "the connection to hixd is closed");
  const std::size_t length = head.size() + body.size();
  if (length > kFrameMax) return fail(ErrorKind::usage, "request payload over HIX_FRAME_MAX");
  const hix_frame_header h = request_header(type, static_cast<std::uint32_t>(length));
  std::array<std::uint8_t, sizeof h> hb{};
  std::memcpy(hb.data(), &h, sizeof h);
  if (auto s = send_all(hb, head, body); !s) {
    close();
    return s.error();
  }
  std::array<std::uint8_t, sizeof(hix_frame_header)> rb{};
  if (auto s = recv_all(rb); !s) {
    close();
    return s.error();
  }
  hix_frame_header r{};
  std::memcpy(&r, rb.data(), sizeof r);
  if (auto s = check_reply_header(r, type); !s) {
    close();
    return s.error();
  }
  Reply reply;
  reply.status = r.status;
  reply.payload.resize(r.length);
  if (auto s = recv_all(reply.payload); !s) {
    close();
    return s.error();
  }
  return reply;
}

}  // namespace hix::client
