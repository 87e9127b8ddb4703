// hixd's event loop (docs/specs/hix-session.md §2, §6, §9): one thread,
// poll() over the listening socket and at most 16 client connections, one
// session per connection. Requests are answered in order; while a reply is
// still being sent, that connection's input waits (backpressure), so a
// connection never has more than one reply queued.
//
// Everything a client sends is hostile: a protocol error (frame_reader.hpp)
// is answered MALFORMED and closes that connection only; a stalled client
// (inside a frame, no byte for 10 s) is closed the same way; any other
// refusal is a status reply. The backend (the GPU enclave, or the session
// core in this process) is entered for OPEN, CALL and a session's end
// (CLOSE or the client gone: DROP). If it dies, every session fails with
// NOT_READY, the backend is destroyed and a fresh one made for new sessions.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend.hpp"
#include "disks.hpp"
#include "frame_reader.hpp"
#include "status_file.hpp"
#include "window_pool.hpp"

namespace hix::hixd {

struct ServerConfig {
  std::string bind = "0.0.0.0";
  std::uint16_t port = HIX_SESSION_PORT;         // 0: any (tests)
  std::string status_path = "/run/hixd.status";  // empty: none
  std::uint32_t max_connections = 16;
  int stall_ms = 10000;
  std::uint32_t ring_entries = 64;
  // The ring area: the ring, then one command buffer (≤ HIX_MSG_MAX).
  std::uint64_t ring_area_bytes = 4096 + (std::uint64_t{1} << 20);
  int restart_backoff_ms = 2000;
  bool quiet = false;  // no log lines (the fuzz harness)
};

// Makes a fresh backend (at start and after a death); nullptr and `why`
// when it cannot.
using BackendFactory = std::function<std::unique_ptr<Backend>(std::string& why)>;

class Server {
 public:
  Server(ServerConfig config, StagingMemory& staging, const Disks& disks, BackendFactory factory);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Reserves the ring area, makes and initialises the backend, listens.
  // False and `why` on failure (hixd then exits).
  [[nodiscard]] bool start(std::string& why);
  // The port it listens on (the chosen one when the config said 0).
  std::uint16_t port() const { return port_; }
  // Runs until `stop` becomes true (checked at least every 200 ms).
  void run(const std::atomic<bool>& stop);
  // One poll() round of at most `timeout_ms`.
  void poll_once(int timeout_ms);

  const Counters& counters() const { return counters_; }
  bool ready() const { return backend_ != nullptr; }
  const Backend* backend() const { return backend_.get(); }

  // The fuzz harness feeds a connection's bytes without a socket: a
  // connection on `fd` (one end of a socketpair) is adopted as if accepted.
  void adopt(int fd);

 private:
  struct Conn;
  struct Reply;

  void log(const char* fmt, ...) const __attribute__((format(printf, 2, 3)));
  void accept_all();
  void on_readable(Conn& c);
  void on_writable(Conn& c);
  void process(Conn& c, std::span<const std::uint8_t> data);
  void handle(Conn& c);
  void put_begin(Conn& c);
  void put_end(Conn& c);
  void reply(Conn& c, std::uint16_t type, std::uint32_t status, std::vector<std::uint8_t> payload);
  void refuse(Conn& c, std::uint16_t type, std::uint32_t status, const std::string& why);
  void flush(Conn& c);
  void close_conn(Conn& c, const char* why);
  void end_session(Conn& c, const char* how, bool drop);
  void check_timers();
  void backend_died(const std::string& why);
  [[nodiscard]] bool make_backend(std::string& why);
  void refresh_status();
  void refresh_enclave_stats();

  void do_info(Conn& c);
  void do_open(Conn& c);
  void do_call(Conn& c);
  void do_get(Conn& c);
  void do_load(Conn& c);
  void do_close(Conn& c);

  ServerConfig config_;
  const Disks& disks_;
  BackendFactory factory_;
  std::unique_ptr<Backend> backend_;
  std::string identity_;
  bool plain_ = false;
  WindowPool pool_;
  std::optional<PoolArea> ring_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::uint64_t next_conn_id_ = 1;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<std::uint8_t> call_buffer_;
  Counters counters_;
  gpu_enclave_stats enclave_stats_{};
  bool have_enclave_stats_ = false;
  bool device_lost_ = false;  // the enclave found the device failed
  std::int64_t next_restart_ms_ = 0;
};

}  // namespace hix::hixd
