// hixd's event loop (server.hpp).
#include "server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>

namespace hix::hixd {
namespace {

constexpr std::size_t kRecvChunk = std::size_t{256} << 10;
constexpr int kBusyRetries = 1000;

std::int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

template <class T>
std::vector<std::uint8_t> bytes_of(const T& v) {
  std::vector<std::uint8_t> out(sizeof v);
  std::memcpy(out.data(), &v, sizeof v);
  return out;
}

template <class T>
T read_struct(std::span<const std::uint8_t> payload) {
  T v{};
  std::memcpy(&v, payload.data(), std::min(sizeof v, payload.size()));
  return v;
}

// Bytes a CALL ecall buffer needs (gpu_enclave_abi.h).
std::size_t call_buffer_size(std::size_t request) {
  return sizeof(gpu_enclave_call) + std::max<std::size_t>(request, GPU_ENCLAVE_CALL_RESPONSE_MAX);
}

void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL, 0);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

}  // namespace

// One reply on its way out: header and payload in one buffer.
struct Server::Reply {
  std::vector<std::uint8_t> bytes;
  std::size_t sent = 0;
};

struct Server::Conn {
  int fd = -1;
  std::uint64_t id = 0;
  FrameReader reader;
  std::vector<std::uint8_t> pending;  // received, not yet parsed (waits for the reply to go)
  std::deque<Reply> out;
  std::int64_t last_in_ms = 0;   // last byte received
  std::int64_t last_out_ms = 0;  // last byte sent (or when the reply was queued)
  bool closing = false;          // close once `out` is sent
  bool dead = false;             // closed; removed at the end of the round
  // The session (at most one per connection).
  bool had_session = false;
  bool live = false;  // the backend holds session `sid`
  bool lost = false;  // the backend died under it: NOT_READY from now on
  std::uint32_t sid = 0;
  Window window;
  // A PUT in progress: the status its reply will carry.
  std::uint32_t put_status = HIX_SESSION_OK;
  std::string put_why;
};

Server::Server(ServerConfig config, StagingMemory& staging, const Disks& disks,
               BackendFactory factory)
    : config_(std::move(config)), disks_(disks), factory_(std::move(factory)), pool_(staging) {}

Server::~Server() {
  for (auto& c : conns_) {
    if (c->fd >= 0) ::close(c->fd);
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void Server::log(const char* fmt, ...) const {
  if (config_.quiet) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  // One write per line, so lines from hixd never interleave on the console.
  std::fprintf(stderr, "hixd: %s\n", buf);
}

bool Server::make_backend(std::string& why) {
  std::unique_ptr<Backend> b = factory_(why);
  if (!b) return false;
  gpu_enclave_init io{};
  io.ring_entries = config_.ring_entries;
  // reinterpret_cast: the ABI carries linear addresses as integers.
  io.ring.linear = reinterpret_cast<std::uint64_t>(ring_->linear);
  io.ring.gpa = ring_->gpa.value;
  io.ring.bytes = ring_->bytes;
  const EntryResult e = b->init(io);
  if (e.entry != Entry::ok) {
    why = "INIT: " + e.why;
    return false;
  }
  if (io.status != HIX_SESSION_OK) {
    why = std::string("INIT refused: ") + status_name(io.status);
    return false;
  }
  identity_ = b->identity();
  plain_ = b->plain();
  backend_ = std::move(b);
  refresh_enclave_stats();
  return true;
}

// The enclave's counters; a device it found failed (its server is gone)
// makes the enclave useless: check_timers() replaces it.
void Server::refresh_enclave_stats() {
  if (!backend_) return;
  have_enclave_stats_ = backend_->stats(enclave_stats_).entry == Entry::ok;
  if (have_enclave_stats_ && enclave_stats_.device_lost != 0) device_lost_ = true;
}

bool Server::start(std::string& why) {
  ring_ = pool_.reserve_contiguous(config_.ring_area_bytes);
  if (!ring_) {
    why = "no staging extent holds the " + std::to_string(config_.ring_area_bytes) +
          "-byte ring area";
    return false;
  }
  // Touched (and cleared) before the enclave may write it: an enclave-mode
  // page fault would abort the enclave.
  std::memset(ring_->linear, 0, ring_->bytes);
  if (!make_backend(why)) return false;

  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0) {
    why = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(config_.port);
  if (inet_pton(AF_INET, config_.bind.c_str(), &addr.sin_addr) != 1) {
    why = "not an IPv4 address: " + config_.bind;
    return false;
  }
  // reinterpret_cast: the sockets API takes the generic address type.
  if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 16) != 0) {
    why = "listen on " + config_.bind + ":" + std::to_string(config_.port) + ": " +
          std::strerror(errno);
    return false;
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  log("ready mode=%s %s port=%u window_max=%llu disks=%zu", plain_ ? "plain" : "protected",
      plain_ ? "mrenclave=none" : identity_.c_str(), port_,
      static_cast<unsigned long long>(pool_.largest_free()), disks_.disks().size());
  refresh_status();
  return true;
}

void Server::refresh_status() {
  StatusSnapshot s;
  s.counters = &counters_;
  s.mode = plain_ ? "plain" : "protected";
  s.identity = identity_;
  s.ready = backend_ != nullptr;
  s.port = port_;
  s.enclave = have_enclave_stats_ ? &enclave_stats_ : nullptr;
  write_status(config_.status_path, s);
}

void Server::run(const std::atomic<bool>& stop) {
  while (!stop.load()) poll_once(200);
}

void Server::adopt(int fd) {
  set_nonblocking(fd);
  auto c = std::make_unique<Conn>();
  c->fd = fd;
  c->id = next_conn_id_++;
  c->last_in_ms = c->last_out_ms = now_ms();
  ++counters_.connections_total;
  ++counters_.connections_live;
  conns_.push_back(std::move(c));
}

void Server::accept_all() {
  for (;;) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    // reinterpret_cast: the sockets API takes the generic address type.
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                             SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    if (counters_.connections_live >= config_.max_connections) {
      ::close(fd);
      ++counters_.connections_refused;
      log("connection refused: %u connections live", config_.max_connections);
      refresh_status();
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    adopt(fd);
    refresh_status();
  }
}

void Server::poll_once(int timeout_ms) {
  std::vector<pollfd> fds;
  fds.push_back({listen_fd_, POLLIN, 0});
  for (const auto& c : conns_) {
    short ev = 0;
    if (!c->out.empty()) {
      ev = POLLOUT;
    } else if (!c->closing) {
      ev = POLLIN;
    }
    fds.push_back({c->fd, ev, 0});
  }
  // Wake in time for the stall timer and a pending restart.
  const int wait = std::min(timeout_ms, std::max(50, config_.stall_ms / 4));
  const int n = ::poll(fds.data(), fds.size(), wait);
  if (n > 0) {
    const std::size_t count = conns_.size();  // accept_all may add more
    for (std::size_t i = 0; i < count; ++i) {
      Conn& c = *conns_[i];
      const short re = fds[i + 1].revents;
      if (c.dead || re == 0) continue;
      if ((re & POLLOUT) != 0) on_writable(c);
      if (!c.dead && (re & (POLLIN | POLLHUP | POLLERR)) != 0) on_readable(c);
    }
    if ((fds[0].revents & POLLIN) != 0 && listen_fd_ >= 0) accept_all();
  }
  check_timers();
  const auto before = conns_.size();
  std::erase_if(conns_, [](const std::unique_ptr<Conn>& c) { return c->dead; });
  if (conns_.size() != before) refresh_status();
}

void Server::check_timers() {
  const std::int64_t now = now_ms();
  for (auto& cp : conns_) {
    Conn& c = *cp;
    if (c.dead) continue;
    if (!c.out.empty() && now - c.last_out_ms > config_.stall_ms) {
      close_conn(c, "client stopped reading its replies");
      ++counters_.stalled;
      continue;
    }
    if (c.out.empty() && !c.closing && c.reader.inside_frame() &&
        now - c.last_in_ms > config_.stall_ms) {
      ++counters_.stalled;
      ++counters_.protocol_errors;
      log("connection %llu: stalled inside a frame for %d ms; closing",
          static_cast<unsigned long long>(c.id), config_.stall_ms);
      refuse(c, 0, HIX_SESSION_MALFORMED, "stalled inside a frame");
      c.closing = true;
      flush(c);
    }
  }
  if (backend_ && device_lost_) {
    // The hix-gpu's server died (hix-gpu spec §10.6). Destroying the enclave
    // releases the lock; the frontend reaches the new server on that lock
    // change, and the next enclave locks a scrubbed device.
    backend_died("the device failed (its server is gone)");
  }
  if (!backend_ && now >= next_restart_ms_) {
    std::string why;
    if (make_backend(why)) {
      ++counters_.enclave_restarts;
      log("ready mode=%s %s port=%u (restarted in %lld ms)", plain_ ? "plain" : "protected",
          plain_ ? "mrenclave=none" : identity_.c_str(), port_,
          static_cast<long long>(now_ms() - now));
    } else {
      log("restart failed: %s; retrying in %d ms", why.c_str(), config_.restart_backoff_ms);
      next_restart_ms_ = now + config_.restart_backoff_ms;
    }
    refresh_status();
  }
}

void Server::on_readable(Conn& c) {
  std::vector<std::uint8_t> buf(kRecvChunk);
  const ssize_t n = ::recv(c.fd, buf.data(), buf.size(), 0);
  if (n == 0) {
    close_conn(c, "client disconnected");
    return;
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    close_conn(c, "receive failed");
    return;
  }
  c.last_in_ms = now_ms();
  buf.resize(static_cast<std::size_t>(n));
  process(c, buf);
}

void Server::on_writable(Conn& c) {
  flush(c);
}

void Server::flush(Conn& c) {
  while (!c.out.empty()) {
    Reply& r = c.out.front();
    const ssize_t n = ::send(c.fd, r.bytes.data() + r.sent, r.bytes.size() - r.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      close_conn(c, "send failed");
      return;
    }
    c.last_out_ms = now_ms();
    r.sent += static_cast<std::size_t>(n);
    if (r.sent < r.bytes.size()) return;
    c.out.pop_front();
  }
  if (c.closing) {
    close_conn(c, nullptr);
    return;
  }
  // The reply went: parse what arrived behind the request.
  if (!c.pending.empty()) {
    std::vector<std::uint8_t> rest = std::move(c.pending);
    c.pending.clear();
    process(c, rest);
  }
}

void Server::process(Conn& c, std::span<const std::uint8_t> data) {
  std::size_t at = 0;
  while (!c.dead && !c.closing) {
    if (!c.out.empty()) {
      // One reply at a time: keep the rest until it has gone.
      c.pending.insert(c.pending.end(), data.begin() + static_cast<std::ptrdiff_t>(at), data.end());
      return;
    }
    const FrameReader::Step s = c.reader.feed(data.subspan(at));
    at += s.consumed;
    switch (s.event) {
      case FrameReader::Event::need_more:
        return;
      case FrameReader::Event::error: {
        ++counters_.protocol_errors;
        log("connection %llu: protocol error: %s; closing", static_cast<unsigned long long>(c.id),
            c.reader.error().c_str());
        const std::uint16_t t = c.reader.header().type;
        refuse(c, frame_rule(t) ? t : 0, HIX_SESSION_MALFORMED, c.reader.error());
        c.closing = true;
        flush(c);
        return;
      }
      case FrameReader::Event::frame:
        ++counters_.requests;
        handle(c);
        flush(c);
        break;
      case FrameReader::Event::put_begin:
        put_begin(c);
        break;
      case FrameReader::Event::put_end:
        ++counters_.requests;
        put_end(c);
        flush(c);
        break;
    }
  }
}

void Server::reply(Conn& c, std::uint16_t type, std::uint32_t status,
                   std::vector<std::uint8_t> payload) {
  hix_frame_header h{};
  h.magic = HIX_FRAME_MAGIC;
  h.type = static_cast<std::uint16_t>(type | HIX_FRAME_REPLY);
  h.length = static_cast<std::uint32_t>(payload.size());
  h.status = status;
  Reply r;
  r.bytes.resize(sizeof h + payload.size());
  std::memcpy(r.bytes.data(), &h, sizeof h);
  if (!payload.empty()) std::memcpy(r.bytes.data() + sizeof h, payload.data(), payload.size());
  c.out.push_back(std::move(r));
  c.last_out_ms = now_ms();
  if (status != HIX_SESSION_OK) {
    ++counters_.rejections;
    if (status < counters_.rejected.size()) ++counters_.rejected[status];
  }
  refresh_status();
}

void Server::refuse(Conn& c, std::uint16_t type, std::uint32_t status, const std::string& why) {
  if (status != HIX_SESSION_MALFORMED) {
    log("connection %llu: %s refused: %s: %s", static_cast<unsigned long long>(c.id),
        type == HIX_FRAME_CALL ? "CALL" : "request", status_name(status), why.c_str());
  }
  reply(c, type, status, std::vector<std::uint8_t>(why.begin(), why.end()));
}

void Server::close_conn(Conn& c, const char* why) {
  if (c.dead) return;
  if (c.live) end_session(c, why != nullptr ? why : "connection closed", true);
  ::close(c.fd);
  c.fd = -1;
  c.dead = true;
  --counters_.connections_live;
  refresh_status();
}

void Server::end_session(Conn& c, const char* how, bool drop) {
  if (!c.live) return;
  if (drop && backend_) {
    gpu_enclave_drop d{};
    d.session = c.sid;
    const EntryResult e = backend_->drop(d);
    if (e.entry == Entry::dead) {
      c.live = false;
      pool_.release(c.window);
      c.window = {};
      backend_died("DROP: " + e.why);
      return;
    }
  }
  c.live = false;
  pool_.release(c.window);
  c.window = {};
  --counters_.sessions_live;
  ++counters_.sessions_closed;
  log("session %u closed (%s)", c.sid, how);
  refresh_enclave_stats();
  refresh_status();
}

void Server::backend_died(const std::string& why) {
  ++counters_.enclave_deaths;
  std::uint64_t lost = 0;
  for (auto& cp : conns_) {
    Conn& c = *cp;
    if (c.had_session && !c.lost) {
      c.lost = true;
      if (c.live || c.window.bytes != 0) {
        pool_.release(c.window);
        c.window = {};
      }
      if (c.live) {
        c.live = false;
        --counters_.sessions_live;
        ++counters_.sessions_closed;
        ++counters_.sessions_lost;
        ++lost;
      }
    }
  }
  log("enclave died: %s; %llu sessions fail with NOT_READY; destroying it and starting a new one",
      why.c_str(), static_cast<unsigned long long>(lost));
  // Destroying the enclave (closing /dev/hix) scrubs the device it locked.
  const std::int64_t t0 = now_ms();
  backend_.reset();
  log("enclave destroyed in %lld ms", static_cast<long long>(now_ms() - t0));
  have_enclave_stats_ = false;
  device_lost_ = false;
  next_restart_ms_ = 0;
  refresh_status();
}

void Server::handle(Conn& c) {
  switch (c.reader.header().type) {
    case HIX_FRAME_INFO:
      do_info(c);
      return;
    case HIX_FRAME_OPEN:
      do_open(c);
      return;
    case HIX_FRAME_CALL:
      do_call(c);
      return;
    case HIX_FRAME_GET:
      do_get(c);
      return;
    case HIX_FRAME_LOAD:
      do_load(c);
      return;
    case HIX_FRAME_CLOSE:
      do_close(c);
      return;
    default:
      // frame_rule() let no other type through.
      refuse(c, 0, HIX_SESSION_INTERNAL, "unexpected frame type");
      return;
  }
}

void Server::do_info(Conn& c) {
  hix_frame_info fi{};
  fi.revision = HIX_SESSION_REVISION;
  fi.flags = plain_ ? HIX_INFO_PLAIN : 0;
  fi.max_sessions = HIX_SESSION_MAX;
  fi.max_window_bytes = pool_.largest_free();
  const auto disks = disks_.disks();
  fi.disk_count =
      static_cast<std::uint32_t>(std::min<std::size_t>(disks.size(), HIX_INFO_MAX_DISKS));
  for (std::uint32_t i = 0; i < fi.disk_count; ++i) fi.disk_bytes[i] = disks[i].bytes;
  reply(c, HIX_FRAME_INFO, HIX_SESSION_OK, bytes_of(fi));
}

void Server::do_open(Conn& c) {
  if (c.had_session) {
    refuse(c, HIX_FRAME_OPEN, HIX_SESSION_BAD_REQUEST,
           "this connection has carried a session; one session per connection");
    return;
  }
  if (!backend_) {
    refuse(c, HIX_FRAME_OPEN, HIX_SESSION_NOT_READY, "no enclave (restarting)");
    return;
  }
  const auto req = read_struct<hix_open_request>(c.reader.payload());
  if (req.window_bytes == 0 || req.window_bytes % kPage != 0) {
    refuse(c, HIX_FRAME_OPEN, HIX_SESSION_BAD_REQUEST,
           "the window size must be a non-zero multiple of 4096");
    return;
  }
  if (counters_.sessions_live >= HIX_SESSION_MAX) {
    refuse(c, HIX_FRAME_OPEN, HIX_SESSION_NO_RESOURCE,
           std::to_string(HIX_SESSION_MAX) + " sessions live");
    return;
  }
  auto window = pool_.alloc({.bytes = req.window_bytes, .max_pieces = HIX_SESSION_MAX_EXTENTS});
  if (!window) {
    refuse(c, HIX_FRAME_OPEN, HIX_SESSION_NO_RESOURCE,
           "no staging window of " + std::to_string(req.window_bytes) + " bytes free (largest " +
               std::to_string(pool_.largest_free()) + ")");
    return;
  }
  // A fresh window: nothing of an earlier session's bytes, every page mapped.
  std::memset(pool_.memory().data() + window->pool_offset, 0, window->bytes);
  gpu_enclave_open io{};
  std::memcpy(io.client_pk, req.client_pk, sizeof io.client_pk);
  std::memcpy(io.nonce, req.nonce, sizeof io.nonce);
  io.extent_count = static_cast<std::uint32_t>(window->pieces.size());
  for (std::size_t i = 0; i < window->pieces.size(); ++i) {
    const PoolArea& a = window->pieces[i].area;
    // reinterpret_cast: the ABI carries linear addresses as integers.
    io.extents[i].linear = reinterpret_cast<std::uint64_t>(a.linear);
    io.extents[i].gpa = a.gpa.value;
    io.extents[i].bytes = a.bytes;
  }
  const EntryResult e = backend_->open(io);
  if (e.entry != Entry::ok || io.status != HIX_SESSION_OK) {
    pool_.release(*window);
    if (e.entry == Entry::ok) refresh_enclave_stats();
    if (e.entry == Entry::dead) {
      backend_died("OPEN: " + e.why);
      refuse(c, HIX_FRAME_OPEN, HIX_SESSION_NOT_READY, "the enclave died; it is restarting");
    } else if (e.entry == Entry::refused) {
      refuse(c, HIX_FRAME_OPEN, HIX_SESSION_INTERNAL, "OPEN ecall refused: " + e.why);
    } else {
      refuse(c, HIX_FRAME_OPEN, io.status,
             std::string("the enclave refused OPEN: ") + status_name(io.status));
    }
    return;
  }
  c.had_session = c.live = true;
  c.sid = io.session;
  c.window = std::move(*window);
  ++counters_.sessions_opened;
  ++counters_.sessions_live;

  hix_open_reply r{};
  r.session = io.session;
  r.flags = plain_ ? HIX_OPEN_PLAIN : 0;
  std::memcpy(r.enclave_pk, io.enclave_pk, sizeof r.enclave_pk);
  std::memcpy(r.report, io.report, sizeof r.report);
  r.extent_count = io.extent_count;
  for (std::size_t i = 0; i < c.window.pieces.size(); ++i) {
    r.extents[i].offset = c.window.pieces[i].window_offset;
    r.extents[i].gpa = c.window.pieces[i].area.gpa.value;
    r.extents[i].length = c.window.pieces[i].area.bytes;
  }
  log("session %u opened (connection %llu, window %llu bytes in %u extents)", c.sid,
      static_cast<unsigned long long>(c.id), static_cast<unsigned long long>(c.window.bytes),
      r.extent_count);
  refresh_enclave_stats();
  reply(c, HIX_FRAME_OPEN, HIX_SESSION_OK, bytes_of(r));
}

void Server::do_call(Conn& c) {
  ++counters_.calls;
  if (c.lost) {
    refuse(c, HIX_FRAME_CALL, HIX_SESSION_NOT_READY, "the enclave died; open a new session");
    return;
  }
  if (!c.live) {
    refuse(c, HIX_FRAME_CALL, HIX_SESSION_UNKNOWN_SESSION, "no session on this connection");
    return;
  }
  const std::span<const std::uint8_t> msg = c.reader.payload();
  // The request's type, in the clear in its header (§5.1): a CLOSE that the
  // enclave accepts ends the session.
  hix_msg_header mh{};
  std::memcpy(&mh, msg.data(), sizeof mh);
  call_buffer_.assign(call_buffer_size(msg.size()), 0);
  gpu_enclave_call hdr{};
  for (int attempt = 0;; ++attempt) {
    hdr = {};
    hdr.session = c.sid;
    hdr.length = static_cast<std::uint32_t>(msg.size());
    std::memcpy(call_buffer_.data(), &hdr, sizeof hdr);
    std::memcpy(call_buffer_.data() + sizeof hdr, msg.data(), msg.size());
    const EntryResult e = backend_->call(call_buffer_);
    if (e.entry == Entry::dead) {
      backend_died("CALL: " + e.why);
      refuse(c, HIX_FRAME_CALL, HIX_SESSION_NOT_READY, "the enclave died; open a new session");
      return;
    }
    if (e.entry == Entry::refused) {
      refuse(c, HIX_FRAME_CALL, HIX_SESSION_INTERNAL, "CALL ecall refused: " + e.why);
      return;
    }
    std::memcpy(&hdr, call_buffer_.data(), sizeof hdr);
    if (hdr.status != HIX_SESSION_BUSY || attempt >= kBusyRetries) break;
  }
  refresh_enclave_stats();
  if (hdr.status != HIX_SESSION_OK) {
    refuse(c, HIX_FRAME_CALL, hdr.status,
           std::string("the enclave rejected the request unopened: ") + status_name(hdr.status) +
               " (detail " + std::to_string(hdr.detail) + ")");
    return;
  }
  if (hdr.length > call_buffer_.size() - sizeof hdr) {
    refuse(c, HIX_FRAME_CALL, HIX_SESSION_INTERNAL, "response longer than the ecall buffer");
    return;
  }
  const auto* resp = call_buffer_.data() + sizeof hdr;
  reply(c, HIX_FRAME_CALL, HIX_SESSION_OK, std::vector<std::uint8_t>(resp, resp + hdr.length));
  if (mh.type == HIX_MSG_CLOSE && mh.session == c.sid) end_session(c, "CLOSE message", false);
}

void Server::put_begin(Conn& c) {
  const auto req = read_struct<hix_put_request>(c.reader.payload());
  const std::uint64_t n = c.reader.put_bytes();
  c.put_status = HIX_SESSION_OK;
  c.put_why.clear();
  if (c.lost) {
    c.put_status = HIX_SESSION_NOT_READY;
    c.put_why = "the enclave died; open a new session";
  } else if (!c.live) {
    c.put_status = HIX_SESSION_UNKNOWN_SESSION;
    c.put_why = "no session on this connection";
  } else if (auto dst = c.window.range(pool_.memory(), req.offset, n); !dst) {
    c.put_status = HIX_SESSION_OUT_OF_RANGE;
    c.put_why = "PUT of " + std::to_string(n) + " bytes at " + std::to_string(req.offset) +
                " outside the " + std::to_string(c.window.bytes) + "-byte window";
  } else {
    c.reader.set_sink(*dst);
    return;
  }
  c.reader.set_sink({});
}

void Server::put_end(Conn& c) {
  ++counters_.puts;
  if (c.put_status != HIX_SESSION_OK) {
    refuse(c, HIX_FRAME_PUT, c.put_status, c.put_why);
    return;
  }
  reply(c, HIX_FRAME_PUT, HIX_SESSION_OK, {});
}

void Server::do_get(Conn& c) {
  ++counters_.gets;
  const auto req = read_struct<hix_get_request>(c.reader.payload());
  if (c.lost) {
    refuse(c, HIX_FRAME_GET, HIX_SESSION_NOT_READY, "the enclave died; open a new session");
    return;
  }
  if (!c.live) {
    refuse(c, HIX_FRAME_GET, HIX_SESSION_UNKNOWN_SESSION, "no session on this connection");
    return;
  }
  const auto src = req.length <= HIX_FRAME_MAX
                       ? c.window.range(pool_.memory(), req.offset, req.length)
                       : std::nullopt;
  if (!src) {
    refuse(c, HIX_FRAME_GET, HIX_SESSION_OUT_OF_RANGE,
           "GET of " + std::to_string(req.length) + " bytes at " + std::to_string(req.offset) +
               " outside the " + std::to_string(c.window.bytes) + "-byte window");
    return;
  }
  reply(c, HIX_FRAME_GET, HIX_SESSION_OK, std::vector<std::uint8_t>(src->begin(), src->end()));
}

void Server::do_load(Conn& c) {
  ++counters_.loads;
  const auto req = read_struct<hix_load_request>(c.reader.payload());
  if (c.lost) {
    refuse(c, HIX_FRAME_LOAD, HIX_SESSION_NOT_READY, "the enclave died; open a new session");
    return;
  }
  if (!c.live) {
    refuse(c, HIX_FRAME_LOAD, HIX_SESSION_UNKNOWN_SESSION, "no session on this connection");
    return;
  }
  if (req.reserved != 0 || req.window_offset % kPage != 0 || req.disk_offset % kPage != 0 ||
      req.length == 0) {
    refuse(c, HIX_FRAME_LOAD, HIX_SESSION_BAD_REQUEST,
           "LOAD needs page-aligned offsets, a non-zero length and reserved 0");
    return;
  }
  const std::uint64_t padded = (req.length + kPage - 1) / kPage * kPage;
  const auto dst = padded >= req.length ? c.window.range(pool_.memory(), req.window_offset, padded)
                                        : std::nullopt;
  if (!dst) {
    refuse(c, HIX_FRAME_LOAD, HIX_SESSION_OUT_OF_RANGE,
           "LOAD of " + std::to_string(req.length) + " bytes at window offset " +
               std::to_string(req.window_offset) + " outside the " +
               std::to_string(c.window.bytes) + "-byte window");
    return;
  }
  const DiskRead r = disks_.read(req.disk, req.disk_offset, req.length, *dst);
  if (r.status != HIX_SESSION_OK) {
    refuse(c, HIX_FRAME_LOAD, r.status, r.why);
    return;
  }
  counters_.load_bytes += r.bytes;
  counters_.load_ns += r.nanoseconds;
  const double secs = static_cast<double>(r.nanoseconds) / 1e9;
  log("session %u load disk=%u bytes=%llu ms=%.1f MB/s=%.1f", c.sid, req.disk,
      static_cast<unsigned long long>(r.bytes), secs * 1e3,
      secs > 0 ? static_cast<double>(r.bytes) / 1e6 / secs : 0.0);
  hix_load_reply out{};
  out.bytes = r.bytes;
  out.nanoseconds = r.nanoseconds;
  reply(c, HIX_FRAME_LOAD, HIX_SESSION_OK, bytes_of(out));
}

void Server::do_close(Conn& c) {
  if (c.live) end_session(c, "CLOSE", true);
  reply(c, HIX_FRAME_CLOSE, HIX_SESSION_OK, {});
  c.closing = true;
}

}  // namespace hix::hixd
