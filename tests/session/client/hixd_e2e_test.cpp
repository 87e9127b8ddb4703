// hixd end to end on the host: its event loop (server.cpp) on a real TCP
// socket, the session core behind it (the same Service the GPU enclave
// runs) on the device model in-process, host memory with made-up
// guest-physical addresses standing for the staging pool, and the test
// client's whole run (attest, open, ALLOC, MODEL_KEY, weights by PUT or
// LOAD, load and generate programs, outputs) against it. Protected mode
// uses a platform that signs reports with a key made for the test; plain
// mode is the control. Raw sockets play the hostile client.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "cpu_backend.hpp"
#include "device.hpp"
#include "guest_memory.hpp"
#include "run_model.hpp"
#include "server.hpp"
#include "service_backend.hpp"
#include "session/client.hpp"
#include "staging.hpp"

namespace hix::hixd {
namespace {

using Bytes = std::vector<std::uint8_t>;
using namespace std::chrono_literals;

constexpr std::uint64_t kMiB = 1 << 20;
constexpr std::uint64_t kLockOwner = 0x4849580077ull;

// ---- the device behind the session core ---------------------------------------

// The device sees the staging pool's extents at their made-up addresses.
class StagingGuestMemory final : public vgpu::RegionGuestMemory {
 public:
  explicit StagingGuestMemory(StagingMemory& m) {
    for (const StagingExtent& e : m.extents()) {
      // reinterpret_cast: the pool's bytes as the device model's.
      regions_.push_back({vgpu::GuestPhys{e.gpa.value}, e.length,
                          reinterpret_cast<std::byte*>(m.bytes().data() + e.offset)});
    }
  }
};

// BAR0 of a device model this object owns.
class DeviceMmio final : public session::Mmio {
 public:
  explicit DeviceMmio(std::unique_ptr<vgpu::Device> dev) : dev_(std::move(dev)) {}
  std::uint32_t read32(gpu::Reg32 reg) override { return dev_->read32(reg); }
  void write32(gpu::Reg32 reg, std::uint32_t value) override { dev_->write32(reg, value); }

 private:
  std::unique_ptr<vgpu::Device> dev_;
};

struct PlatformKeys {
  std::array<std::uint8_t, 32> pk{};
  std::array<std::uint8_t, 64> sk{};
  std::array<std::uint8_t, 32> mrenclave{};
  PlatformKeys() {
    EXPECT_GE(sodium_init(), 0);
    crypto_sign_keypair(pk.data(), sk.data());
    for (std::size_t i = 0; i < 32; ++i) mrenclave[i] = static_cast<std::uint8_t>(0x5A ^ i);
  }
};

// Reports as a correct platform makes them, under the test's key.
class SigningPlatform final : public session::Platform {
 public:
  explicit SigningPlatform(const PlatformKeys& k) : k_(k) {}
  void random(std::span<std::uint8_t> out) override { randombytes_buf(out.data(), out.size()); }
  [[nodiscard]] bool report(session::ReportData data, session::ReportOut out) override {
    hix_report r{};
    r.version = HIX_REPORT_VERSION;
    r.isa_version = 1;
    std::memcpy(r.mrenclave, k_.mrenclave.data(), 32);
    std::memcpy(r.report_data, data.data(), data.size());
    crypto_hash_sha256(r.platform_key_id, k_.pk.data(), k_.pk.size());
    // reinterpret_cast: the report's bytes, signed as they travel.
    crypto_sign_detached(r.signature, nullptr, reinterpret_cast<const unsigned char*>(&r),
                         HIX_REPORT_SIGNED_SIZE, k_.sk.data());
    std::memcpy(out.data(), &r, sizeof r);
    return true;
  }

 private:
  const PlatformKeys& k_;
};

// The backend dies on demand, as an aborted enclave would.
class KillableBackend final : public Backend {
 public:
  KillableBackend(std::unique_ptr<Backend> inner, std::atomic<bool>& kill)
      : inner_(std::move(inner)), kill_(kill) {}
  bool plain() const override { return inner_->plain(); }
  std::string identity() const override { return inner_->identity(); }
  EntryResult init(gpu_enclave_init& io) override { return inner_->init(io); }
  EntryResult open(gpu_enclave_open& io) override { return inner_->open(io); }
  EntryResult call(std::span<std::uint8_t> buffer) override {
    if (kill_.exchange(false)) return {Entry::dead, "enclave_aborted (test)"};
    return inner_->call(buffer);
  }
  EntryResult drop(gpu_enclave_drop& io) override { return inner_->drop(io); }
  EntryResult stats(gpu_enclave_stats& out) override { return inner_->stats(out); }

 private:
  std::unique_ptr<Backend> inner_;
  std::atomic<bool>& kill_;
};

// hixd on 127.0.0.1, its loop in a thread of its own.
class Hixd {
 public:
  Hixd(bool plain, const PlatformKeys& keys, std::vector<std::string> disk_paths = {})
      : plain_(plain), keys_(keys) {
    staging_ = host_staging({.bytes = 32 * kMiB, .extent_bytes = 4 * kMiB}, GuestPhys{0x80000000});
    disks_.open_paths(disk_paths);
    status_path_ = std::filesystem::temp_directory_path() /
                   ("hixd-test-" + std::to_string(::getpid()) + "-" +
                    std::to_string(reinterpret_cast<std::uintptr_t>(this)) + ".status");
    ServerConfig cfg;
    cfg.bind = "127.0.0.1";
    cfg.port = 0;
    cfg.status_path = status_path_.string();
    cfg.stall_ms = 300;
    cfg.restart_backoff_ms = 50;
    server_ = std::make_unique<Server>(cfg, *staging_, disks_,
                                       [this](std::string& why) { return make_backend(why); });
    std::string why;
    EXPECT_TRUE(server_->start(why)) << why;
    thread_ = std::thread([this] { server_->run(stop_); });
  }
  ~Hixd() {
    stop_.store(true);
    thread_.join();
    server_.reset();
    std::filesystem::remove(status_path_);
  }
  Hixd(const Hixd&) = delete;
  Hixd& operator=(const Hixd&) = delete;

  std::uint16_t port() const { return server_->port(); }
  void kill_enclave() { kill_.store(true); }
  // The status file, key by key (after the loop has caught up).
  std::map<std::string, std::string> status() const {
    std::this_thread::sleep_for(50ms);
    std::map<std::string, std::string> out;
    std::ifstream in(status_path_);
    std::string line;
    while (std::getline(in, line)) {
      const auto eq = line.find('=');
      if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return out;
  }
  client::Expectations expect() const {
    return plain_ ? client::Expectations::plain_mode()
                  : client::Expectations::attested(keys_.pk, keys_.mrenclave);
  }

 private:
  std::unique_ptr<Backend> make_backend(std::string& why) {
    auto backend = vgpu::CpuBackend::create(64 * kMiB);
    if (!backend) {
      why = "no cpu backend";
      return nullptr;
    }
    auto dev = std::make_unique<vgpu::Device>(std::move(*backend),
                                              vgpu::DeviceConfig{.inline_execution = true});
    dev->attach_guest_memory(std::make_unique<StagingGuestMemory>(*staging_));
    if (!plain_) dev->set_lock(true, kLockOwner);  // what EGLOCK does for the enclave
    session::ServiceOptions opts;
    opts.mode = plain_ ? session::Mode::plain : session::Mode::protected_mode;
    std::unique_ptr<session::Platform> platform;
    if (plain_) {
      platform = std::make_unique<session::SodiumPlatform>();
    } else {
      platform = std::make_unique<SigningPlatform>(keys_);
    }
    auto inner = std::make_unique<ServiceBackend>(std::make_unique<DeviceMmio>(std::move(dev)),
                                                  std::move(platform), opts,
                                                  plain_ ? "plain" : "mrenclave=test");
    return std::make_unique<KillableBackend>(std::move(inner), kill_);
  }

  bool plain_;
  const PlatformKeys& keys_;
  std::unique_ptr<StagingMemory> staging_;
  Disks disks_;
  std::filesystem::path status_path_;
  std::atomic<bool> kill_{false};
  std::atomic<bool> stop_{false};
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

// ---- a raw client: the hostile one -------------------------------------------

struct RawReply {
  bool closed = false;  // the connection ended instead
  hix_frame_header header{};
  Bytes payload;
  std::string message() const { return {payload.begin(), payload.end()}; }
};

class Raw {
 public:
  explicit Raw(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    // reinterpret_cast: the sockets API takes the generic address type.
    EXPECT_EQ(::connect(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0);
  }
  ~Raw() { ::close(fd_); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;

  void send(const Bytes& b) {
    ASSERT_EQ(::send(fd_, b.data(), b.size(), MSG_NOSIGNAL), static_cast<ssize_t>(b.size()));
  }
  void request(std::uint16_t type, const Bytes& payload) {
    hix_frame_header h{HIX_FRAME_MAGIC, type, 0, static_cast<std::uint32_t>(payload.size()), 0};
    Bytes b(sizeof h);
    std::memcpy(b.data(), &h, sizeof h);
    b.insert(b.end(), payload.begin(), payload.end());
    send(b);
  }
  RawReply reply() {
    RawReply r;
    Bytes h(sizeof(hix_frame_header));
    if (!recv_all(h)) {
      r.closed = true;
      return r;
    }
    std::memcpy(&r.header, h.data(), h.size());
    r.payload.resize(r.header.length);
    if (!recv_all(r.payload)) r.closed = true;
    return r;
  }
  // True when the peer closed (EOF) before `timeout`.
  bool closed_by_peer() {
    std::uint8_t b = 0;
    return ::recv(fd_, &b, 1, 0) == 0;
  }

 private:
  bool recv_all(Bytes& out) {
    std::size_t got = 0;
    while (got < out.size()) {
      const ssize_t n = ::recv(fd_, out.data() + got, out.size() - got, 0);
      if (n <= 0) return false;
      got += static_cast<std::size_t>(n);
    }
    return true;
  }
  int fd_ = -1;
};

template <class T>
Bytes bytes_of(const T& v) {
  Bytes b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}

// OPEN from a raw connection (keys thrown away): the reply.
hix_open_reply raw_open(Raw& r, std::uint64_t window = std::uint64_t{64} << 10) {
  hix_open_request req{};
  randombytes_buf(req.client_pk, sizeof req.client_pk);
  req.window_bytes = window;
  r.request(HIX_FRAME_OPEN, bytes_of(req));
  const RawReply rep = r.reply();
  EXPECT_FALSE(rep.closed);
  EXPECT_EQ(rep.header.status, HIX_SESSION_OK) << rep.message();
  hix_open_reply out{};
  if (rep.payload.size() == sizeof out) std::memcpy(&out, rep.payload.data(), sizeof out);
  return out;
}

// ---- runs -----------------------------------------------------------------------

inference::RunOptions run_options(const Hixd& h, const inference::ModelInput& in) {
  inference::RunOptions o;
  o.port = h.port();
  o.expect = h.expect();
  o.input = &in;
  o.runtime.max_seq = 24;
  o.prompt = {1, 2, 3, 4, 5};
  o.generate = 8;
  return o;
}

class Generation : public ::testing::TestWithParam<const char*> {};

TEST_P(Generation, ProtectedThroughHixdMatchesPlain) {
  const PlatformKeys keys;
  auto input = inference::open_preset(GetParam(), 7);
  ASSERT_TRUE(input.ok()) << input.why();
  std::vector<std::int32_t> tokens[2];
  std::vector<float> logits[2];
  for (const bool plain : {false, true}) {
    Hixd h(plain, keys);
    auto r = inference::run(run_options(h, *input));
    ASSERT_TRUE(r.ok()) << (plain ? "plain: " : "protected: ") << r.why();
    EXPECT_EQ(r->plain, plain);
    EXPECT_EQ(r->tokens.size(), 5u + 8u);
    EXPECT_EQ(std::vector<std::int32_t>(r->tokens.begin(), r->tokens.begin() + 5),
              (std::vector<std::int32_t>{1, 2, 3, 4, 5}));
    EXPECT_EQ(r->last_logits.size(), input->config.vocab);
    EXPECT_EQ(r->load_path, "put");
    // The CLI's JSON: valid, with the mode, the tokens and every timing.
    auto js = model::parse_json(inference::result_json(*r, input->name, true));
    ASSERT_TRUE(js.ok()) << js.why();
    EXPECT_EQ(js->find("mode")->string, plain ? "plain" : "protected");
    EXPECT_EQ(js->find("tokens")->array.size(), 13u);
    EXPECT_EQ(js->find("generated")->array.size(), 8u);
    for (const char* k :
         {"attest_open_ms", "load_ms", "load_mb_s", "generate_ms", "request_overhead_ms"}) {
      ASSERT_NE(js->find("timings")->find(k), nullptr) << k;
      EXPECT_GT(js->find("timings")->find(k)->number, 0) << k;
    }
    EXPECT_EQ(js->find("secrets")->find("weight")->string.size(), 128u);
    tokens[plain ? 1 : 0] = r->tokens;
    logits[plain ? 1 : 0] = r->last_logits;
    const auto st = h.status();
    EXPECT_EQ(st.at("mode"), plain ? "plain" : "protected");
    EXPECT_EQ(st.at("sessions_opened"), "1");
    EXPECT_EQ(st.at("sessions_closed"), "1");
    EXPECT_EQ(st.at("sessions_live"), "0");
    EXPECT_EQ(st.at("rejections"), "0");
    EXPECT_EQ(st.at("enclave_device_errors"), "0");
  }
  EXPECT_EQ(tokens[0], tokens[1]);
  EXPECT_EQ(logits[0], logits[1]);
}

INSTANTIATE_TEST_SUITE_P(Models, Generation, ::testing::Values("tiny-gpt2", "tiny-llama"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           std::erase(n, '-');
                           return n;
                         });

TEST(Load, WeightsFromADiskGiveTheSameTokensAsPut) {
  const PlatformKeys keys;
  auto input = inference::open_preset("tiny-llama", 3);
  ASSERT_TRUE(input.ok());
  const auto dir =
      std::filesystem::temp_directory_path() / ("hixd-disk-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const bool plain : {false, true}) {
    const std::string file = (dir / (plain ? "plain.bin" : "sealed.bin")).string();
    auto plan = model::make_plan(input->config, [] {
      model::RuntimeOptions rt;
      rt.max_seq = 24;
      return rt;
    }());
    ASSERT_TRUE(plan.ok());
    auto wf = inference::write_weights_file(file, *plan, *input->weights, input->name, !plain);
    ASSERT_TRUE(wf.ok()) << wf.why();
    auto back = inference::read_weights_sidecar(file, *plan);
    ASSERT_TRUE(back.ok()) << back.why();
    EXPECT_EQ(back->file_bytes, std::filesystem::file_size(file));

    Hixd h(plain, keys, {"/nonexistent-disk", file});
    auto put = inference::run(run_options(h, *input));
    ASSERT_TRUE(put.ok()) << put.why();
    auto lo = run_options(h, *input);
    lo.disk_index = 1;
    lo.disk_file = *back;
    auto disk = inference::run(lo);
    ASSERT_TRUE(disk.ok()) << disk.why();
    EXPECT_EQ(disk->load_path, "disk");
    EXPECT_GE(disk->load_bytes, wf->file_bytes - 4096 * wf->tensors.size());
    EXPECT_EQ(disk->tokens, put->tokens);
    EXPECT_EQ(disk->last_logits, put->last_logits);
    const auto st = h.status();
    EXPECT_NE(st.at("loads"), "0");
    EXPECT_EQ(st.at("rejections"), "0");

    // Disk 0 is absent: refused, counted, the session goes on.
    auto bad = lo;
    bad.disk_index = 0;
    auto r = inference::run(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.why().find("out_of_range"), std::string::npos) << r.why();
  }
  std::filesystem::remove_all(dir);
}

// Streaming: rounds of tokens give what one program gives, greedy and
// sampled, and every token reaches the callback once, in order.
class Streaming : public ::testing::TestWithParam<bool> {};

TEST_P(Streaming, RoundsGiveTheSameTokensAsOneProgram) {
  const PlatformKeys keys;
  auto input = inference::open_preset("tiny-llama", 5);
  ASSERT_TRUE(input.ok()) << input.why();
  Hixd h(false, keys);
  auto one = run_options(h, *input);
  one.generate = 11;
  one.sample = GetParam();
  one.temperature = 0.8f;
  one.top_k = 40;
  one.seed = 1234;
  auto whole = inference::run(one);
  ASSERT_TRUE(whole.ok()) << whole.why();
  EXPECT_EQ(whole->t.rounds, 1u);
  for (const std::uint32_t round : {1u, 3u, 4u}) {
    auto o = one;
    o.round_tokens = round;
    std::vector<std::int32_t> streamed;
    o.on_tokens = [&](std::span<const std::int32_t> t) {
      streamed.insert(streamed.end(), t.begin(), t.end());
    };
    auto r = inference::run(o);
    ASSERT_TRUE(r.ok()) << r.why();
    EXPECT_EQ(r->tokens, whole->tokens) << "rounds of " << round;
    EXPECT_EQ(streamed, std::vector<std::int32_t>(whole->tokens.begin() + 5, whole->tokens.end()));
    // One token first, then rounds of `round`.
    EXPECT_EQ(r->t.rounds, 1 + (10 + round - 1) / round);
    EXPECT_GT(r->t.first_token_ms, 0);
  }
  EXPECT_EQ(h.status().at("rejections"), "0");
}

INSTANTIATE_TEST_SUITE_P(Decoding, Streaming, ::testing::Bool(), [](const auto& param_info) {
  return std::string(param_info.param ? "Sampled" : "Greedy");
});

TEST(Load, WeightsPutFromALocalSealedFileGiveTheSameTokens) {
  const PlatformKeys keys;
  auto input = inference::open_preset("tiny-gpt2", 4);
  ASSERT_TRUE(input.ok());
  const std::string file = (std::filesystem::temp_directory_path() /
                            ("hixd-file-" + std::to_string(::getpid()) + ".bin"))
                               .string();
  model::RuntimeOptions rt;
  rt.max_seq = 24;
  auto plan = model::make_plan(input->config, rt);
  ASSERT_TRUE(plan.ok());
  auto wf = inference::write_weights_file(file, *plan, *input->weights, input->name, true);
  ASSERT_TRUE(wf.ok()) << wf.why();
  Hixd h(false, keys);
  auto put = inference::run(run_options(h, *input));
  ASSERT_TRUE(put.ok()) << put.why();
  // Without the plaintext weights: only the sealed file and its key.
  const inference::ModelInput sealed_only{input->config, nullptr, "sealed file"};
  auto o = run_options(h, sealed_only);
  o.disk_file = *wf;
  o.put_file = file;
  auto r = inference::run(o);
  ASSERT_TRUE(r.ok()) << r.why();
  EXPECT_EQ(r->load_path, "file");
  EXPECT_EQ(r->tokens, put->tokens);
  // A file cut short is refused with the tensor's name; hixd serves on.
  std::filesystem::resize_file(file, wf->tensors.back().offset + 100);
  auto cut = inference::run(o);
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.why().find("cut short"), std::string::npos) << cut.why();
  EXPECT_TRUE(inference::run(run_options(h, *input)).ok());
  std::filesystem::remove(file);
}

TEST(Attestation, TheClientRefusesAnotherEnclaveOrPlatformOrMode) {
  const PlatformKeys keys;
  Hixd h(false, keys);
  auto c = client::Client::connect(h.port());
  ASSERT_TRUE(c.ok());
  auto wrong_mr = client::Expectations::attested(keys.pk, keys.mrenclave);
  wrong_mr.mrenclave[0] ^= 1;
  auto s = c->open(4096, wrong_mr);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, client::ErrorKind::attestation);
  EXPECT_NE(s.error().message.find("wrong_mrenclave"), std::string::npos) << s.error().message;

  const PlatformKeys other;
  auto c2 = client::Client::connect(h.port());
  ASSERT_TRUE(c2.ok());
  auto s2 = c2->open(4096, client::Expectations::attested(other.pk, keys.mrenclave));
  ASSERT_FALSE(s2.ok());
  EXPECT_NE(s2.error().message.find("bad_signature"), std::string::npos) << s2.error().message;

  auto c3 = client::Client::connect(h.port());
  ASSERT_TRUE(c3.ok());
  auto s3 = c3->open(4096, client::Expectations::plain_mode());
  ASSERT_FALSE(s3.ok());
  EXPECT_EQ(s3.error().kind, client::ErrorKind::attestation);

  // And a protected client refuses a plain hixd.
  Hixd p(true, keys);
  auto c4 = client::Client::connect(p.port());
  ASSERT_TRUE(c4.ok());
  auto s4 = c4->open(4096, client::Expectations::attested(keys.pk, keys.mrenclave));
  ASSERT_FALSE(s4.ok());
  EXPECT_NE(s4.error().message.find("plain mode"), std::string::npos) << s4.error().message;
}

TEST(Transport, AProtocolErrorClosesOnlyThatConnection) {
  const PlatformKeys keys;
  Hixd h(false, keys);
  auto c = client::Client::connect(h.port());
  ASSERT_TRUE(c.ok());
  auto s = c->open(std::uint64_t{64} << 10, h.expect());
  ASSERT_TRUE(s.ok()) << s.error().message;

  Raw bad(h.port());
  hix_frame_header hdr{0xDEADBEEF, HIX_FRAME_INFO, 0, 0, 0};
  bad.send(bytes_of(hdr));
  const RawReply r = bad.reply();
  ASSERT_FALSE(r.closed);
  EXPECT_EQ(r.header.status, HIX_SESSION_MALFORMED);
  EXPECT_NE(r.message().find("magic"), std::string::npos) << r.message();
  EXPECT_TRUE(bad.closed_by_peer());

  // The other connection's session goes on.
  const std::uint64_t sizes[] = {4096, 8192};
  auto handles = s->alloc(sizes);
  ASSERT_TRUE(handles.ok()) << handles.error().message;
  EXPECT_EQ(handles->size(), 2u);
  EXPECT_TRUE(s->close().ok());
  const auto st = h.status();
  EXPECT_EQ(st.at("protocol_errors"), "1");
  EXPECT_EQ(st.at("rejected_malformed"), "1");
}

TEST(Transport, AClientStalledInsideAFrameIsDropped) {
  const PlatformKeys keys;
  Hixd h(true, keys);
  Raw r(h.port());
  r.send(Bytes{'H', 'X', 'D'});    // three bytes of a header, then nothing
  const RawReply rep = r.reply();  // the stall timer is 300 ms here
  ASSERT_FALSE(rep.closed);
  EXPECT_EQ(rep.header.status, HIX_SESSION_MALFORMED);
  EXPECT_NE(rep.message().find("stalled"), std::string::npos) << rep.message();
  EXPECT_TRUE(r.closed_by_peer());
  EXPECT_EQ(h.status().at("stalled"), "1");
  // Idle between frames is not a stall.
  Raw idle(h.port());
  std::this_thread::sleep_for(600ms);
  idle.request(HIX_FRAME_INFO, {});
  const RawReply info = idle.reply();
  ASSERT_FALSE(info.closed);
  EXPECT_EQ(info.header.status, HIX_SESSION_OK);
  ASSERT_EQ(info.payload.size(), sizeof(hix_frame_info));
  hix_frame_info fi{};
  std::memcpy(&fi, info.payload.data(), sizeof fi);
  EXPECT_EQ(fi.revision, HIX_SESSION_REVISION);
  EXPECT_EQ(fi.flags, HIX_INFO_PLAIN);
  EXPECT_EQ(fi.max_sessions, HIX_SESSION_MAX);
  EXPECT_GE(fi.max_window_bytes, 16 * kMiB);
}

TEST(Window, PutGetAndLoadAreBoundsChecked) {
  const PlatformKeys keys;
  Hixd h(false, keys);
  auto c = client::Client::connect(h.port());
  ASSERT_TRUE(c.ok());
  auto s = c->open(std::uint64_t{3} * 4096, h.expect());
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->window_bytes(), 3u * 4096);
  const Bytes data(5000, 0x5C);
  ASSERT_TRUE(s->put(4096, data).ok());
  auto back = s->get({.offset = 4096, .length = data.size()});
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
  for (const auto& [off, len] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{
           {0, 3 * 4096 + 1}, {3 * 4096, 1}, {~0ull - 10, 100}}) {
    auto p = s->put(off, Bytes(len, 1));
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error().status, HIX_SESSION_OUT_OF_RANGE) << p.error().message;
    auto g = s->get({.offset = off, .length = len});
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(g.error().status, HIX_SESSION_OUT_OF_RANGE) << g.error().message;
  }
  auto l = s->load({.disk = 0, .disk_offset = 0, .window_offset = 0, .length = 4096});  // no disks
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().status, HIX_SESSION_OUT_OF_RANGE);
  auto misaligned = s->load({.disk = 0, .disk_offset = 0, .window_offset = 100, .length = 4096});
  ASSERT_FALSE(misaligned.ok());
  EXPECT_EQ(misaligned.error().status, HIX_SESSION_BAD_REQUEST);
  // The refusals left the session working.
  ASSERT_TRUE(s->put(0, Bytes(10, 1)).ok());
  EXPECT_TRUE(s->close().ok());
  EXPECT_EQ(h.status().at("rejected_out_of_range"), "7");
}

TEST(Window, NothingWithoutASessionAndOneSessionPerConnection) {
  const PlatformKeys keys;
  Hixd h(false, keys);
  Raw r(h.port());
  r.request(HIX_FRAME_GET, bytes_of(hix_get_request{0, 16}));
  EXPECT_EQ(r.reply().header.status, HIX_SESSION_UNKNOWN_SESSION);
  r.request(HIX_FRAME_CALL, Bytes(48, 0));
  EXPECT_EQ(r.reply().header.status, HIX_SESSION_UNKNOWN_SESSION);
  Bytes put(8 + 100, 0);
  r.request(HIX_FRAME_PUT, put);
  EXPECT_EQ(r.reply().header.status, HIX_SESSION_UNKNOWN_SESSION);
  const hix_open_reply o = raw_open(r);
  EXPECT_EQ(o.flags, 0u);
  EXPECT_GE(o.extent_count, 1u);
  hix_open_request again{};
  again.window_bytes = 4096;
  r.request(HIX_FRAME_OPEN, bytes_of(again));
  EXPECT_EQ(r.reply().header.status, HIX_SESSION_BAD_REQUEST);
  // A window that is not whole pages, or larger than the pool.
  Raw r2(h.port());
  hix_open_request odd{};
  odd.window_bytes = 100;
  r2.request(HIX_FRAME_OPEN, bytes_of(odd));
  EXPECT_EQ(r2.reply().header.status, HIX_SESSION_BAD_REQUEST);
  Raw r3(h.port());
  hix_open_request huge{};
  huge.window_bytes = 1ull << 40;
  r3.request(HIX_FRAME_OPEN, bytes_of(huge));
  EXPECT_EQ(r3.reply().header.status, HIX_SESSION_NO_RESOURCE);
}

TEST(Calls, AForgedRequestIsRejectedUnopenedAndTheSessionGoesOn) {
  const PlatformKeys keys;
  Hixd h(false, keys);
  Raw r(h.port());
  const hix_open_reply o = raw_open(r);
  hix_msg_header mh{
      HIX_MSG_MAGIC, HIX_MSG_VERSION, HIX_MSG_TO_ENCLAVE, HIX_MSG_ALLOC, o.session, 0, 1, 8, 0};
  Bytes msg = bytes_of(mh);
  msg.resize(msg.size() + 8 + 16, 0x77);  // garbage ciphertext and tag
  r.request(HIX_FRAME_CALL, msg);
  const RawReply rep = r.reply();
  EXPECT_EQ(rep.header.status, HIX_SESSION_FORGED) << rep.message();
  const auto st = h.status();
  EXPECT_EQ(st.at("rejected_forged"), "1");
  EXPECT_EQ(st.at("enclave_rejected_forged"), "1");
  EXPECT_EQ(st.at("sessions_live"), "1");
}

TEST(Sessions, ADisconnectDropsTheSession) {
  const PlatformKeys keys;
  Hixd h(false, keys);
  {
    auto c = client::Client::connect(h.port());
    ASSERT_TRUE(c.ok());
    auto s = c->open(8192, h.expect());
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(h.status().at("sessions_live"), "1");
  }  // the connection closes with the session object
  const auto st = h.status();
  EXPECT_EQ(st.at("sessions_live"), "0");
  EXPECT_EQ(st.at("sessions_closed"), "1");
  EXPECT_EQ(st.at("enclave_sessions_live"), "0");
  EXPECT_EQ(st.at("connections_live"), "0");
}

TEST(Sessions, AnEnclaveDeathFailsEverySessionAndANewEnclaveServesNewOnes) {
  const PlatformKeys keys;
  Hixd h(false, keys);
  auto c1 = client::Client::connect(h.port());
  auto c2 = client::Client::connect(h.port());
  ASSERT_TRUE(c1.ok() && c2.ok());
  auto s1 = c1->open(8192, h.expect());
  auto s2 = c2->open(8192, h.expect());
  ASSERT_TRUE(s1.ok() && s2.ok());
  h.kill_enclave();
  const std::uint64_t size = 4096;
  for (client::Session* s : {&*s1, &*s2}) {
    auto a = s->alloc(std::span(&size, 1));
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.error().status, HIX_SESSION_NOT_READY) << a.error().message;
    auto p = s->put(0, Bytes(16, 1));
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error().status, HIX_SESSION_NOT_READY);
  }
  // A new session, on a new enclave, runs a whole generation.
  auto input = inference::open_preset("tiny-gpt2", 1);
  ASSERT_TRUE(input.ok());
  std::this_thread::sleep_for(100ms);
  auto r = inference::run(run_options(h, *input));
  ASSERT_TRUE(r.ok()) << r.why();
  const auto st = h.status();
  EXPECT_EQ(st.at("enclave_deaths"), "1");
  EXPECT_EQ(st.at("enclave_restarts"), "1");
  EXPECT_EQ(st.at("sessions_lost"), "2");
  EXPECT_EQ(st.at("ready"), "1");
}

TEST(Transport, AtMostSixteenConnections) {
  const PlatformKeys keys;
  Hixd h(true, keys);
  std::vector<std::unique_ptr<Raw>> conns;
  conns.reserve(16);
  for (int i = 0; i < 16; ++i) conns.push_back(std::make_unique<Raw>(h.port()));
  std::this_thread::sleep_for(100ms);
  Raw extra(h.port());
  EXPECT_TRUE(extra.closed_by_peer());
  conns[0]->request(HIX_FRAME_INFO, {});
  EXPECT_EQ(conns[0]->reply().header.status, HIX_SESSION_OK);
  EXPECT_EQ(h.status().at("connections_refused"), "1");
}

}  // namespace
}  // namespace hix::hixd
