// The session client (docs/specs/hix-session.md): connect to hixd, attest
// the GPU enclave and open a session (§3.2), then talk to the enclave in
// sealed messages (§5) and move ciphertext through the session's staging
// window (§2.1 PUT/GET/LOAD, §6). Depends only on the ABI headers,
// libsodium and libhix's report verification.
//
//   auto c = Client::connect(port);
//   auto s = c->open(window_bytes, Expectations::attested(platform_pk, mrenclave));
//   auto handles = s->alloc(sizes);  s->model_key(1, key);  s->put(off, sealed);
//   s->submit(cmdbuf);  auto out = s->get({.offset = off, .length = len});  s->close();
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "connection.hpp"
#include "hix/abi/hix_session.h"
#include "keys.hpp"
#include "result.hpp"
#include "sealed_message.hpp"

namespace hix::client {

inline constexpr std::size_t kPlatformKeyBytes = 32;  // Ed25519 (hix-isa §7)
inline constexpr std::size_t kMrenclaveBytes = 32;
inline constexpr std::uint64_t kPage = 4096;

// What the client accepts at OPEN.
struct Expectations {
  bool plain = false;  // a plain-mode hixd (§10): no report, nothing protected
  std::array<std::uint8_t, kPlatformKeyBytes> platform_key{};
  std::array<std::uint8_t, kMrenclaveBytes> mrenclave{};

  static Expectations attested(std::span<const std::uint8_t, kPlatformKeyBytes> platform_key,
                               std::span<const std::uint8_t, kMrenclaveBytes> mrenclave);
  static Expectations plain_mode() { return Expectations{.plain = true}; }
};

// INFO (§2.1).
struct Info {
  std::uint32_t revision = 0;
  bool plain = false;
  std::uint32_t max_sessions = 0;
  std::uint64_t max_window_bytes = 0;
  std::vector<std::uint64_t> disk_bytes;  // /dev/vda, vdb, ...
};

// The checks OPEN's reply must pass (§3.2), in order, on their own so tests
// can drive them: the mode, the report (hix::verify_report), the binding.
// `client_pk` and `nonce` are what this client sent.
Check check_open_reply(const hix_open_reply& reply, const Expectations& expect,
                       std::span<const std::uint8_t, kPublicKeyBytes> client_pk,
                       std::span<const std::uint8_t, kNonceBytes> nonce);

class Session;

// `length` bytes of the staging window from `offset` (§2.1).
struct WindowRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

// A LOAD (§2.1): disk `disk` bytes [disk_offset, +length) into the window
// at window_offset.
struct DiskLoad {
  std::uint32_t disk = 0;
  std::uint64_t disk_offset = 0;
  std::uint64_t window_offset = 0;
  std::uint64_t length = 0;
};

class Client {
 public:
  static Result<Client> connect(std::uint16_t port, const std::string& host = "127.0.0.1",
                                unsigned timeout_s = 600);
  Result<Info> info();
  // OPEN with a staging window of `window_bytes` (rounded up to 4096). The
  // connection moves into the session (one session per connection, §2).
  Result<Session> open(std::uint64_t window_bytes, const Expectations& expect);

 private:
  explicit Client(Connection c) : conn_(std::move(c)) {}
  Connection conn_;
};

class Session {
 public:
  Session(Session&&) noexcept = default;
  Session& operator=(Session&&) noexcept = default;
  ~Session() = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  std::uint32_t id() const { return channel_.session(); }
  bool plain() const { return plain_; }
  // The staging window's extents (offset in the window, guest-physical
  // address, length), in order.
  std::span<const hix_window_extent> window() const { return extents_; }
  std::uint64_t window_bytes() const { return window_bytes_; }
  // The guest-physical address of window bytes [offset, offset + len) when
  // they lie in one extent (a DMA op must), else nullopt.
  std::optional<std::uint64_t> gpa(std::uint64_t offset, std::uint64_t len) const;
  // K_t (§3.3): seal input tensors (key slot 0, ids with bit 63 clear) and
  // open the device's outputs (bit 63 set) with it.
  std::span<const std::uint8_t, kKeyBytes> tensor_key() const { return channel_.keys().tensor; }
  // The enclave's public key and the raw report from OPEN.
  const PublicKey& enclave_pk() const { return enclave_pk_; }
  const std::array<std::uint8_t, HIX_SESSION_REPORT_BYTES>& report() const { return report_; }

  // ---- Sealed requests (§5.2) ----
  // ALLOC: one handle per size, in order (sent 64 at a time).
  Result<std::vector<std::uint32_t>> alloc(std::span<const std::uint64_t> sizes);
  Check free(std::span<const std::uint32_t> handles);
  Check model_key(std::uint32_t slot, std::span<const std::uint8_t, kKeyBytes> key);
  // SUBMIT: one command buffer. A device failure is an Error with status
  // DEVICE and its detail (hix-gpu status, op index).
  Result<hix_submit_result> submit(std::span<const std::byte> cmdbuf);
  // One sealed request of `type`; the response's data after hix_msg_status.
  Result<std::vector<std::uint8_t>> call(std::uint16_t type,
                                         std::span<const std::uint8_t> plaintext);

  // ---- The staging window (§2.1) ----
  Check put(std::uint64_t offset, std::span<const std::uint8_t> bytes);
  Result<std::vector<std::uint8_t>> get(WindowRange range);
  // LOAD: disk `disk` bytes [disk_offset, +length) into the window at
  // window_offset (multiples of 4096; length may end at the disk's end).
  Result<hix_load_reply> load(const DiskLoad& l);

  // The sealed CLOSE, then the CLOSE frame; the connection is closed after.
  Check close();
  bool is_open() const { return conn_.is_open(); }

 private:
  friend class Client;
  Session(Connection conn, Channel channel, bool plain)
      : conn_(std::move(conn)), channel_(std::move(channel)), plain_(plain) {}

  Connection conn_;
  Channel channel_;
  bool plain_ = false;
  std::vector<hix_window_extent> extents_;
  std::uint64_t window_bytes_ = 0;
  PublicKey enclave_pk_{};
  std::array<std::uint8_t, HIX_SESSION_REPORT_BYTES> report_{};
};

}  // namespace hix::client
