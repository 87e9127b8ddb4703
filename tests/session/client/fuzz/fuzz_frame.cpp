// libFuzzer: a hostile client's byte stream into hixd (docs/specs/hix-session.md
// §2). First the frame reader alone, fed in pieces whose sizes come from the
// input; then hixd's event loop (server.cpp) over a socketpair, with a fake
// backend that opens sessions, echoes CALLs, answers BUSY and dies when told
// (a sealed header whose first ciphertext byte is 0xDD), and a 64 KiB disk.
// Invariants (a violation traps): the reader never consumes more than it is
// given and stays dead after an error; every reply hixd sends is a
// well-formed reply frame; after a MALFORMED reply the connection ends; the
// loop never crashes, leaks a connection or a session.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "frame_reader.hpp"
#include "server.hpp"
#include "staging.hpp"

namespace {

using namespace hix::hixd;

#define CHECK(cond)                                          \
  do {                                                       \
    if (!(cond)) {                                           \
      std::fprintf(stderr, "invariant failed: %s\n", #cond); \
      __builtin_trap();                                      \
    }                                                        \
  } while (0)

class FakeBackend final : public Backend {
 public:
  bool plain() const override { return true; }
  std::string identity() const override { return "fake"; }
  EntryResult init(gpu_enclave_init& io) override {
    io.status = HIX_SESSION_OK;
    return {};
  }
  EntryResult open(gpu_enclave_open& io) override {
    CHECK(io.extent_count >= 1 && io.extent_count <= HIX_SESSION_MAX_EXTENTS);
    io.status = HIX_SESSION_OK;
    io.session = next_++;
    return {};
  }
  EntryResult call(std::span<std::uint8_t> buffer) override {
    gpu_enclave_call h{};
    CHECK(buffer.size() >= sizeof h);
    std::memcpy(&h, buffer.data(), sizeof h);
    CHECK(buffer.size() >= sizeof h + h.length);
    const std::uint8_t* msg = buffer.data() + sizeof h;
    if (h.length > HIX_MSG_HEADER_BYTES && msg[HIX_MSG_HEADER_BYTES] == 0xDD) {
      return {Entry::dead, "told to die"};
    }
    if (h.length > HIX_MSG_HEADER_BYTES && msg[HIX_MSG_HEADER_BYTES] == 0xBB && busy_++ % 3 != 2) {
      h.status = HIX_SESSION_BUSY;
    } else {
      h.status = HIX_SESSION_OK;
      h.length = std::min<std::uint32_t>(h.length, GPU_ENCLAVE_CALL_RESPONSE_MAX);
    }
    std::memcpy(buffer.data(), &h, sizeof h);
    return {};
  }
  EntryResult drop(gpu_enclave_drop& io) override {
    io.status = HIX_SESSION_OK;
    return {};
  }
  EntryResult stats(gpu_enclave_stats& out) override {
    out = {};
    return {};
  }

 private:
  std::uint32_t next_ = 1;
  unsigned busy_ = 0;
};

struct World {
  std::unique_ptr<StagingMemory> staging =
      host_staging({.bytes = 4u << 20, .extent_bytes = 1u << 20}, GuestPhys{0x100000});
  Disks disks;
  std::unique_ptr<Server> server;

  World() {
    char path[] = "/tmp/hixd-fuzz-disk-XXXXXX";
    const int fd = ::mkstemp(path);
    CHECK(fd >= 0);
    std::vector<std::uint8_t> data(64 * 1024, 0x42);
    CHECK(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    ::close(fd);
    const std::vector<std::string> paths = {path};
    disks.open_paths(paths);
    ::unlink(path);  // the descriptor keeps it
    ServerConfig cfg;
    cfg.bind = "127.0.0.1";
    cfg.port = 0;
    cfg.status_path = "";
    cfg.quiet = true;
    cfg.ring_area_bytes = 64 * 1024;
    cfg.restart_backoff_ms = 0;
    server = std::make_unique<Server>(cfg, *staging, disks, [](std::string&) {
      return std::unique_ptr<Backend>(new FakeBackend());
    });
    std::string why;
    CHECK(server->start(why));
  }
};

void fuzz_reader(const std::uint8_t* data, std::size_t size) {
  FrameReader r;
  std::vector<std::uint8_t> sink(1 << 16);
  std::size_t at = 0;
  std::size_t step = size > 0 ? (data[0] % 61) + 1 : 1;
  bool dead = false;
  while (at < size) {
    const std::size_t n = std::min(step, size - at);
    const auto s = r.feed({data + at, n});
    CHECK(s.consumed <= n);
    if (dead) CHECK(s.event == FrameReader::Event::error);
    if (s.event == FrameReader::Event::error) {
      dead = true;
      CHECK(!r.error().empty());
      break;
    }
    if (s.event == FrameReader::Event::frame) {
      const auto rule = frame_rule(r.header().type);
      CHECK(rule.has_value());
      CHECK(r.payload().size() == r.header().length);
    }
    if (s.event == FrameReader::Event::put_begin) {
      CHECK(r.payload().size() == sizeof(hix_put_request));
      r.set_sink(r.put_bytes() <= sink.size() && (at & 1) != 0
                     ? std::span(sink).first(r.put_bytes())
                     : std::span<std::uint8_t>{});
    }
    if (s.event == FrameReader::Event::need_more) CHECK(s.consumed == n);
    at += s.consumed;
    step = step % 13 + 1;
  }
}

// Every reply hixd sent, as one stream: well-formed reply frames, and
// nothing after a protocol error's MALFORMED.
void check_replies(const std::vector<std::uint8_t>& out) {
  std::size_t at = 0;
  bool malformed_seen = false;
  while (out.size() - at >= sizeof(hix_frame_header)) {
    CHECK(!malformed_seen);
    hix_frame_header h{};
    std::memcpy(&h, out.data() + at, sizeof h);
    CHECK(h.magic == HIX_FRAME_MAGIC);
    CHECK((h.type & HIX_FRAME_REPLY) != 0);
    CHECK(h.flags == 0);
    CHECK(h.length <= HIX_FRAME_MAX);
    CHECK(h.status < HIX_SESSION_INTERNAL);         // INTERNAL is a bug, never caused by input
    CHECK(out.size() - at - sizeof h >= h.length);  // replies are sent whole before a close
    at += sizeof h + h.length;
    malformed_seen = h.status == HIX_SESSION_MALFORMED;
  }
  CHECK(at == out.size());
}

// Moves what hixd sent into `sink`.
void drain(int fd, std::vector<std::uint8_t>& sink) {
  std::uint8_t buf[65536];
  for (;;) {
    const ssize_t m = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (m <= 0) return;
    sink.insert(sink.end(), buf, buf + m);
  }
}

void fuzz_server(World& w, const std::uint8_t* data, std::size_t size) {
  int sv[2];
  CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  const std::uint64_t live_before = w.server->counters().connections_live;
  w.server->adopt(sv[0]);
  std::vector<std::uint8_t> replies;
  std::size_t sent = 0;
  for (int round = 0; round < 10000 && sent < size; ++round) {
    const ssize_t n = ::send(sv[1], data + sent, size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) sent += static_cast<std::size_t>(n);
    if (n < 0 && errno != EAGAIN) break;  // hixd closed it
    w.server->poll_once(0);
    drain(sv[1], replies);  // so that hixd never waits on us
  }
  ::shutdown(sv[1], SHUT_WR);
  for (int round = 0; round < 1000 && w.server->counters().connections_live > live_before;
       ++round) {
    w.server->poll_once(0);
    drain(sv[1], replies);
  }
  drain(sv[1], replies);
  ::close(sv[1]);
  w.server->poll_once(0);  // a restart after a death in the last round
  CHECK(w.server->counters().connections_live == live_before);
  CHECK(w.server->counters().sessions_live == 0);
  CHECK(w.server->ready());
  check_replies(replies);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World world;
  fuzz_reader(data, size);
  fuzz_server(world, data, size);
  return 0;
}
