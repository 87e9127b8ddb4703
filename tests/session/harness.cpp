// The session tests' harness (harness.hpp).
#include "harness.hpp"

#include <sodium.h>

#include <cstring>

#include "cpu_backend.hpp"
#include "report.hpp"
#include "sealed_chunk.hpp"

namespace hix::session::test {
namespace {

template <class T>
Bytes as_bytes(const T& v) {
  Bytes b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}

std::array<std::uint8_t, 12> nonce_of(std::uint32_t direction, std::uint64_t counter) {
  std::array<std::uint8_t, 12> n{};
  std::memcpy(n.data(), &direction, 4);
  std::memcpy(n.data() + 4, &counter, 8);
  return n;
}

}  // namespace

// ---- TestPlatform ----

TestPlatform::TestPlatform() {
  EXPECT_GE(sodium_init(), 0);
  crypto_sign_keypair(public_key.data(), secret_key.data());
  for (std::size_t i = 0; i < mrenclave.size(); ++i) {
    mrenclave[i] = static_cast<std::uint8_t>(0x5a ^ i);
  }
}

void TestPlatform::random(std::span<std::uint8_t> out) {
  randombytes_buf(out.data(), out.size());
}

bool TestPlatform::report(ReportData data, ReportOut out) {
  if (refuse_reports) return false;
  ++reports;
  hix_report r{};
  r.version = HIX_REPORT_VERSION;
  r.isa_version = HIX_ISA_VERSION;
  std::memcpy(r.mrenclave, mrenclave.data(), sizeof r.mrenclave);
  std::memcpy(r.report_data, data.data(), sizeof r.report_data);
  crypto_hash_sha256(r.platform_key_id, public_key.data(), public_key.size());
  std::memcpy(out.data(), &r, sizeof r);
  crypto_sign_detached(out.data() + HIX_REPORT_SIGNED_SIZE, nullptr, out.data(),
                       HIX_REPORT_SIGNED_SIZE, secret_key.data());
  return true;
}

// ---- Bus ----

Bus::Bus(bool locked) {
  auto backend = vgpu::CpuBackend::create(kVram);
  EXPECT_TRUE(backend.ok());
  dev_ = std::make_unique<vgpu::Device>(std::move(*backend));
  auto mem = std::make_unique<vgpu::BufferGuestMemory>(vgpu::GuestPhys{kRamBase}, kRamSize);
  ram_ = mem.get();
  dev_->attach_guest_memory(std::move(mem));
  if (locked) dev_->set_lock(true, kLockOwner);
}

Linear Bus::linear(std::uint64_t gpa) {
  // reinterpret_cast: the host buffer standing for guest RAM is where the
  // core's "linear addresses" point in these tests.
  return Linear{reinterpret_cast<std::uint64_t>(ram_->bytes().data() + (gpa - kRamBase))};
}

std::span<std::uint8_t> Bus::guest(std::uint64_t gpa, std::uint64_t len) {
  const auto bytes = ram_->bytes().subspan(gpa - kRamBase, len);
  // reinterpret_cast: the same memory as bytes of another type.
  return {reinterpret_cast<std::uint8_t*>(bytes.data()), bytes.size()};
}

gpu_enclave_area Bus::ring_area() {
  return gpu_enclave_area{linear(kRamBase).value, kRamBase, kRingBytes};
}

gpu_enclave_area Bus::extent(std::uint32_t window, std::uint32_t i) {
  const std::uint64_t gpa = window_gpa(window) + std::uint64_t{i} * kExtentBytes;
  return gpu_enclave_area{linear(gpa).value, gpa, kExtentBytes};
}

Bytes Bus::vram() {
  Bytes out(dev_->backend().vram_size());
  EXPECT_EQ(dev_->backend().read_bytes(vgpu::VramOffset{0}, std::as_writable_bytes(std::span(out))),
            vgpu::Status::ok);
  return out;
}

// ---- Client ----

Client::Client() {
  EXPECT_GE(sodium_init(), 0);
  crypto_kx_keypair(cpk.data(), csk.data());
  randombytes_buf(nonce.data(), nonce.size());
}

::testing::AssertionResult Client::accept(const gpu_enclave_open& reply,
                                          const TestPlatform& platform) {
  const std::span<const std::uint8_t> report(reply.report, sizeof reply.report);
  const ReportStatus rs = verify_report(report, platform.public_key, platform.mrenclave);
  if (rs != ReportStatus::ok) {
    return ::testing::AssertionFailure() << "report: " << hix::to_string(rs);
  }
  // report_data = SHA-256("OpenHIX-session-v1" || epk || cpk || nonce || sid LE) || 0^32
  std::array<std::uint8_t, 64> want{};
  crypto_hash_sha256_state h;
  crypto_hash_sha256_init(&h);
  // reinterpret_cast: the label's ASCII bytes.
  crypto_hash_sha256_update(&h, reinterpret_cast<const std::uint8_t*>("OpenHIX-session-v1"), 18);
  crypto_hash_sha256_update(&h, reply.enclave_pk, 32);
  crypto_hash_sha256_update(&h, cpk.data(), cpk.size());
  crypto_hash_sha256_update(&h, nonce.data(), nonce.size());
  const Bytes sid_le = as_bytes(reply.session);
  crypto_hash_sha256_update(&h, sid_le.data(), sid_le.size());
  crypto_hash_sha256_final(&h, want.data());
  const hix_report r = decode_report(report.first<kReportSize>());
  if (std::memcmp(r.report_data, want.data(), want.size()) != 0) {
    return ::testing::AssertionFailure() << "report_data does not bind this session";
  }
  accept_plain(reply);
  return ::testing::AssertionSuccess();
}

void Client::accept_plain(const gpu_enclave_open& reply) {
  std::memcpy(epk.data(), reply.enclave_pk, epk.size());
  sid = reply.session;
  // §3.3: client tx = K_c2e, client rx = K_e2c.
  EXPECT_EQ(
      crypto_kx_client_session_keys(k_e2c.data(), k_c2e.data(), cpk.data(), csk.data(), epk.data()),
      0);
  std::array<std::uint8_t, 64> key{};
  std::memcpy(key.data(), k_c2e.data(), 32);
  std::memcpy(key.data() + 32, k_e2c.data(), 32);
  const char* label = "OpenHIX-tensor-key-v1";
  // reinterpret_cast: the label's ASCII bytes.
  crypto_generichash(k_t.data(), k_t.size(), reinterpret_cast<const std::uint8_t*>(label), 21,
                     key.data(), key.size());
}

Bytes Client::seal(std::uint16_t type, std::span<const std::uint8_t> plain,
                   std::optional<std::uint64_t> counter) {
  const std::uint64_t ctr = counter ? *counter : send_counter++;
  hix_msg_header h{};
  h.magic = HIX_MSG_MAGIC;
  h.version = 1;
  h.direction = 1;
  h.type = type;
  h.session = sid;
  h.counter = ctr;
  h.length = static_cast<std::uint32_t>(plain.size());
  Bytes out(32 + plain.size() + 16);
  std::memcpy(out.data(), &h, sizeof h);
  const auto n = nonce_of(1, ctr);
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(
      out.data() + 32, out.data() + 32 + plain.size(), nullptr, plain.data(), plain.size(),
      out.data(), 32, nullptr, n.data(), k_c2e.data());
  return out;
}

std::optional<Reply> Client::open(std::span<const std::uint8_t> sealed, std::uint16_t type) {
  if (sealed.size() < 48) return std::nullopt;
  hix_msg_header h{};
  std::memcpy(&h, sealed.data(), sizeof h);
  if (h.magic != HIX_MSG_MAGIC || h.version != 1 || h.direction != 2 || h.type != type ||
      h.session != sid || h.counter != recv_counter || h.reserved != 0 || h.reserved2 != 0 ||
      std::size_t{h.length} + 48 != sealed.size() || h.length < sizeof(hix_msg_status)) {
    return std::nullopt;
  }
  Bytes plain(h.length);
  const auto n = nonce_of(2, h.counter);
  if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
          plain.data(), nullptr, sealed.data() + 32, h.length, sealed.data() + 32 + h.length,
          sealed.data(), 32, n.data(), k_e2c.data()) != 0) {
    return std::nullopt;
  }
  ++recv_counter;
  hix_msg_status st{};
  std::memcpy(&st, plain.data(), sizeof st);
  Reply r;
  r.status = static_cast<Status>(st.status);
  r.detail = st.detail;
  r.data.assign(plain.begin() + sizeof st, plain.end());
  return r;
}

// ---- SessionTest ----

SessionTest::SessionTest(Mode mode, bool skip_validation) : bus(mode == Mode::protected_mode) {
  ServiceOptions o;
  o.mode = mode;
  o.skip_validation = skip_validation;
  service = std::make_unique<Service>(mmio, memory, platform, o);
}

void SessionTest::init() {
  gpu_enclave_init io{};
  io.ring_entries = Bus::kRingEntries;
  io.ring = bus.ring_area();
  service->init(io);
  ASSERT_EQ(static_cast<Status>(io.status), Status::ok);
}

gpu_enclave_open SessionTest::open_request(const Client& c, std::uint32_t window) {
  gpu_enclave_open io{};
  std::memcpy(io.client_pk, c.cpk.data(), 32);
  std::memcpy(io.nonce, c.nonce.data(), 32);
  io.extent_count = 2;
  io.extents[0] = bus.extent(window, 0);
  io.extents[1] = bus.extent(window, 1);
  return io;
}

Client SessionTest::open(std::uint32_t window) {
  Client c;
  gpu_enclave_open io = open_request(c, window);
  service->open(io);
  EXPECT_EQ(static_cast<Status>(io.status), Status::ok);
  if (service->mode() == Mode::protected_mode) {
    EXPECT_TRUE(c.accept(io, platform));
  } else {
    c.accept_plain(io);
  }
  return c;
}

CallResult SessionTest::call_raw(std::uint32_t session, std::span<const std::uint8_t> sealed) {
  const auto length = static_cast<std::uint32_t>(sealed.size());
  Bytes buf(call_buffer_bytes(length));
  gpu_enclave_call c{};
  c.session = session;
  c.length = length;
  std::memcpy(buf.data(), &c, sizeof c);
  std::memcpy(buf.data() + sizeof c, sealed.data(), sealed.size());
  CallResult r;
  r.buffer = service->call(buf);
  std::memcpy(&c, buf.data(), sizeof c);
  r.status = static_cast<Status>(c.status);
  r.detail = c.detail;
  if (r.buffer == CallBuffer::ok && r.status == Status::ok) {
    r.response.assign(buf.begin() + sizeof c, buf.begin() + sizeof c + c.length);
  }
  return r;
}

std::optional<Reply> SessionTest::request(Client& c, std::uint16_t type,
                                          std::span<const std::uint8_t> plain) {
  const Bytes sealed = c.seal(type, plain);
  const CallResult r = call_raw(c.sid, sealed);
  if (r.buffer != CallBuffer::ok || r.status != Status::ok) return std::nullopt;
  auto reply = c.open(r.response, type);
  EXPECT_TRUE(reply.has_value()) << "the response does not open";
  return reply;
}

std::vector<std::uint32_t> SessionTest::alloc(Client& c, std::span<const std::uint64_t> sizes) {
  hix_msg_alloc a{};
  a.count = static_cast<std::uint32_t>(sizes.size());
  Bytes plain = as_bytes(a);
  for (const std::uint64_t s : sizes) {
    const Bytes b = as_bytes(s);
    plain.insert(plain.end(), b.begin(), b.end());
  }
  const auto reply = request(c, HIX_MSG_ALLOC, plain);
  std::vector<std::uint32_t> handles;
  if (!reply || reply->status != Status::ok) {
    ADD_FAILURE() << "ALLOC failed";
    return handles;
  }
  EXPECT_EQ(reply->data.size(), 4 * sizes.size());
  handles.resize(reply->data.size() / 4);
  std::memcpy(handles.data(), reply->data.data(), handles.size() * 4);
  return handles;
}

Reply SessionTest::submit(Client& c, std::span<const std::byte> cmdbuf) {
  // reinterpret_cast: the command buffer's bytes as the message's plaintext.
  const std::span<const std::uint8_t> plain(reinterpret_cast<const std::uint8_t*>(cmdbuf.data()),
                                            cmdbuf.size());
  auto reply = request(c, HIX_MSG_SUBMIT, plain);
  if (!reply) {
    ADD_FAILURE() << "SUBMIT rejected unsealed";
    return Reply{};
  }
  EXPECT_EQ(reply->data.size(), sizeof(hix_submit_result));
  return *reply;
}

void SessionTest::model_key(Client& c, std::uint32_t slot, const Key32& key) {
  hix_msg_model_key mk{};
  mk.slot = slot;
  std::memcpy(mk.key, key.data(), key.size());
  const auto reply = request(c, HIX_MSG_MODEL_KEY, as_bytes(mk));
  ASSERT_TRUE(reply.has_value());
  ASSERT_EQ(reply->status, Status::ok);
}

void SessionTest::put_sealed(std::uint64_t gpa, std::span<const std::uint8_t> plain,
                             std::uint8_t slot, std::uint64_t id, const Key32& key) {
  const std::uint64_t size = vgpu::sealed_size(plain.size());
  ASSERT_NE(size, 0u);
  ASSERT_EQ(vgpu::seal_tensor(std::as_writable_bytes(bus.guest(gpa, size)), std::as_bytes(plain),
                              vgpu::SealParams{slot, id}, key),
            vgpu::Status::ok);
}

bool SessionTest::get_sealed(std::uint64_t gpa, std::span<std::uint8_t> plain, std::uint64_t id,
                             const Key32& key) {
  const std::uint64_t size = vgpu::sealed_size(plain.size());
  return vgpu::open_tensor(std::as_writable_bytes(plain), std::as_bytes(bus.guest(gpa, size)),
                           vgpu::SealParams{0, id}, key) == vgpu::Status::ok;
}

gpu_enclave_stats SessionTest::stats() {
  gpu_enclave_stats s{};
  service->stats(s);
  return s;
}

Bytes pattern(std::size_t floats, float seed) {
  Bytes out(floats * 4);
  for (std::size_t i = 0; i < floats; ++i) {
    const float v = seed + static_cast<float>(i) * 0.25f;
    std::memcpy(out.data() + 4 * i, &v, 4);
  }
  return out;
}

}  // namespace hix::session::test
