// hix-vgpu-server as a process, over a real socketpair, with a memfd
// standing in for guest RAM: what the QEMU frontend will do, message by
// message (docs/specs/hix-gpu.md §10).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "hix/abi/hix_gpu_regs.h"
#include "hix/abi/vgpu_proto.h"
#include "hix/abi/vgpu_ring.h"
#include "hix/gpu/regs.hpp"
#include "hix/vgpu/cmdbuf_builder.hpp"
#include "ring_auth.hpp"

namespace hix::vgpu::test {
namespace {

using gpu::Reg32;

struct Reply {
  hix_vgpu_msg_header h{};
  std::vector<std::byte> payload;
  template <class T>
  T as() const {
    T v{};
    EXPECT_GE(payload.size(), sizeof v);
    std::memcpy(&v, payload.data(), std::min(payload.size(), sizeof v));
    return v;
  }
};

// The frontend's side of the protocol, minimal.
class Frontend {
 public:
  explicit Frontend(int fd) : fd_(fd) {}
  ~Frontend() {
    if (fd_ >= 0) close(fd_);
  }
  bool send_msg(std::uint32_t type, const void* payload, std::size_t len, int pass_fd = -1) {
    std::vector<std::byte> buf(sizeof(hix_vgpu_msg_header) + len);
    hix_vgpu_msg_header h{type, static_cast<std::uint32_t>(len), ++tag_};
    std::memcpy(buf.data(), &h, sizeof h);
    if (len > 0) std::memcpy(buf.data() + sizeof h, payload, len);
    return send_raw(buf, pass_fd);
  }
  bool send_raw(const std::vector<std::byte>& buf, int pass_fd = -1) {
    iovec iov{const_cast<std::byte*>(buf.data()), buf.size()};  // sendmsg wants non-const
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (pass_fd >= 0) {
      m.msg_control = control;
      m.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&m);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &pass_fd, sizeof pass_fd);
    }
    return sendmsg(fd_, &m, MSG_NOSIGNAL) == static_cast<ssize_t>(buf.size());
  }
  // Returns false on EOF or error.
  bool recv_reply(Reply& r) {
    std::vector<std::byte> buf(HIX_VGPU_MSG_MAX);
    const ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
    if (n < static_cast<ssize_t>(sizeof(hix_vgpu_msg_header))) return false;
    std::memcpy(&r.h, buf.data(), sizeof r.h);
    r.payload.assign(buf.begin() + sizeof r.h, buf.begin() + n);
    return true;
  }
  Reply request(std::uint32_t type, const void* payload, std::size_t len, int pass_fd = -1) {
    Reply r;
    EXPECT_TRUE(send_msg(type, payload, len, pass_fd));
    EXPECT_TRUE(recv_reply(r));
    EXPECT_EQ(r.h.tag, tag_);
    return r;
  }
  std::uint64_t read(std::uint64_t off, std::uint32_t size = 4) {
    hix_vgpu_mmio_read m{off, size, 0};
    const auto r = request(HIX_VGPU_MSG_MMIO_READ, &m, sizeof m);
    EXPECT_EQ(r.h.type, HIX_VGPU_MSG_MMIO_READ | HIX_VGPU_MSG_REPLY);
    return r.as<hix_vgpu_mmio_read_reply>().value;
  }
  std::uint32_t reg(Reg32 r) { return static_cast<std::uint32_t>(read(gpu::offset_of(r).value)); }
  void write(std::uint64_t off, std::uint64_t value, std::uint32_t size = 4) {
    hix_vgpu_mmio_write m{off, size, 0, value};
    EXPECT_TRUE(send_msg(HIX_VGPU_MSG_MMIO_WRITE, &m, sizeof m));
  }
  void write(Reg32 r, std::uint32_t v) { write(gpu::offset_of(r).value, v); }
  std::uint32_t admin(std::uint32_t cmd, std::uint32_t a0 = 0, std::uint32_t a1 = 0) {
    write(Reg32::arg0, a0);
    write(Reg32::arg1, a1);
    write(Reg32::arg2, 0);
    write(Reg32::cmd, cmd);
    EXPECT_EQ(reg(Reg32::cmd_status), 0u) << "admin command " << cmd;
    return reg(Reg32::result0);
  }
  std::uint32_t ack_status(std::uint32_t type, const void* payload, std::size_t len,
                           int pass_fd = -1) {
    const auto r = request(type, payload, len, pass_fd);
    EXPECT_EQ(r.h.type & ~HIX_VGPU_MSG_REPLY, type);
    return r.as<hix_vgpu_ack>().status;
  }
  int fd() const { return fd_; }

 private:
  int fd_;
  std::uint64_t tag_ = 0;
};

class ServerProcess : public ::testing::Test {
 protected:
  static constexpr std::uint64_t kLow = 0x0;           // region 0: 2 MiB at gpa 0
  static constexpr std::uint64_t kHigh = 0x100000000;  // region 1: 2 MiB at 4 GiB
  static constexpr std::uint64_t kRegion = 2ull << 20;
  static constexpr std::uint64_t kRing = kLow + 0x10000;
  static constexpr std::uint64_t kCmd = kLow + 0x20000;

  void SetUp() override {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      dup2(sv[1], 3);  // the server's descriptor 3, without close-on-exec
      execl(HIX_VGPU_SERVER, "hix-vgpu-server", "--fd", "3", "--vram-mib", "16", "--quiet",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(sv[1]);
    fe_ = std::make_unique<Frontend>(sv[0]);
    // Guest RAM: one memfd, two regions, as QEMU's memory-backend-memfd.
    memfd_ = memfd_create("guest-ram", MFD_CLOEXEC);
    ASSERT_GE(memfd_, 0);
    ASSERT_EQ(ftruncate(memfd_, static_cast<off_t>(2 * kRegion)), 0);
    void* p = mmap(nullptr, 2 * kRegion, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_, 0);
    ASSERT_NE(p, MAP_FAILED);
    ram_ = static_cast<std::byte*>(p);
  }
  void TearDown() override {
    fe_.reset();  // hang up: the server exits
    int status = 0;
    ASSERT_EQ(waitpid(pid_, &status, 0), pid_);
    if (!killed_) {
      EXPECT_TRUE(WIFEXITED(status));
      EXPECT_EQ(WEXITSTATUS(status), 0);
    }
    munmap(ram_, 2 * kRegion);
    close(memfd_);
  }
  std::byte* host(std::uint64_t gpa) {
    return gpa >= kHigh ? ram_ + kRegion + (gpa - kHigh) : ram_ + gpa;
  }
  void attach_ram() {
    hix_vgpu_hello hello{HIX_VGPU_PROTO_VERSION, 0};
    const auto r = fe_->request(HIX_VGPU_MSG_HELLO, &hello, sizeof hello);
    ASSERT_EQ(r.as<hix_vgpu_hello_reply>().id, HIX_GPU_ID_VALUE);
    struct {
      hix_vgpu_guest_ram g;
      hix_vgpu_ram_region r[2];
    } msg{{2, 0}, {{kLow, kRegion, 0}, {kHigh, kRegion, kRegion}}};
    ASSERT_EQ(fe_->ack_status(HIX_VGPU_MSG_GUEST_RAM, &msg, sizeof msg, memfd_), 0u);
  }
  // Context with one 4 KiB buffer, ring at kRing.
  void setup_device() {
    ctx_ = fe_->admin(HIX_GPU_CMD_CTX_CREATE);
    buf_ = fe_->admin(HIX_GPU_CMD_MEM_ALLOC, ctx_, 4096);
    fe_->write(Reg32::ring_base_lo, static_cast<std::uint32_t>(kRing));
    fe_->write(Reg32::ring_size, 16);
    fe_->admin(HIX_GPU_CMD_RING_START);
  }
  // Writes `cmd` and an entry into guest RAM, rings, waits for the fence.
  bool run(const std::vector<std::byte>& cmd, const std::array<std::uint8_t, 32>* key = nullptr) {
    std::vector<std::byte> body = cmd;
    hix_vgpu_ring_entry e{};
    e.seq = ++seq_;
    e.ctx = ctx_;
    e.cmd_gpa = kCmd;
    e.cmd_len = static_cast<std::uint32_t>(body.size());
    e.fence = ++fence_;
    if (key != nullptr) seal_ring_entry(e, body, *key);
    std::memcpy(host(kCmd), body.data(), body.size());
    std::memcpy(host(kRing + (producer_ % 16) * sizeof e), &e, sizeof e);
    fe_->write(Reg32::doorbell, ++producer_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (fe_->reg(Reg32::fence) != fence_) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  pid_t pid_ = -1;
  bool killed_ = false;
  std::unique_ptr<Frontend> fe_;
  int memfd_ = -1;
  std::byte* ram_ = nullptr;
  std::uint32_t ctx_ = 0, buf_ = 0, producer_ = 0, fence_ = 0;
  std::uint64_t seq_ = 0;
};

TEST_F(ServerProcess, HelloAndTheRegisterFile) {
  hix_vgpu_hello hello{HIX_VGPU_PROTO_VERSION, 0};
  const auto r = fe_->request(HIX_VGPU_MSG_HELLO, &hello, sizeof hello);
  EXPECT_EQ(r.h.type, HIX_VGPU_MSG_HELLO | HIX_VGPU_MSG_REPLY);
  const auto hr = r.as<hix_vgpu_hello_reply>();
  EXPECT_EQ(hr.proto_version, HIX_VGPU_PROTO_VERSION);
  EXPECT_EQ(hr.version, HIX_GPU_VERSION_VALUE);
  EXPECT_EQ(fe_->reg(Reg32::id), HIX_GPU_ID_VALUE);
  EXPECT_EQ(fe_->reg(Reg32::status), HIX_GPU_STATUS_READY);
  fe_->write(Reg32::scratch, 0xA5A5A5A5u);
  EXPECT_EQ(fe_->reg(Reg32::scratch), 0xA5A5A5A5u);
  EXPECT_EQ(fe_->read(1, 1), 0xFFu);   // forwarded as it arrived, refused by the server
  EXPECT_EQ(fe_->read(0x100, 4), 0u);  // reserved
  fe_->write(0x0, 1);                  // RO
  EXPECT_EQ(fe_->reg(Reg32::badacc), 2u);
}

TEST_F(ServerProcess, RingAndDmaThroughTheMemfd) {
  attach_ram();
  setup_device();
  const std::uint64_t out = kHigh + 0x1000;  // in the second region
  CmdbufBuilder b;
  b.fill(tref(buf_, HIX_VGPU_DT_F32), 8, 0x40490FDBu);  // pi
  b.dma(HIX_VGPU_OP_DMA_OUT, tref(buf_, HIX_VGPU_DT_F32), {.gpa = out, .bytes = 32});
  ASSERT_TRUE(run(b.finish()));
  EXPECT_EQ(fe_->reg(Reg32::exec_errors), 0u);
  float got[8];
  std::memcpy(got, host(out), sizeof got);
  for (const float f : got) EXPECT_FLOAT_EQ(f, 3.14159265f);
}

TEST_F(ServerProcess, AuthenticatedRingThroughTheServer) {
  attach_ram();
  setup_device();
  const std::array<std::uint8_t, 32> key{7, 7, 7};
  for (std::uint32_t i = 0; i < 8; ++i) {
    std::uint32_t w = 0;
    std::memcpy(&w, key.data() + std::size_t{4} * i, 4);
    fe_->write(gpu::offset_of(Reg32::key0).value + 4 * i, w);
  }
  fe_->admin(HIX_GPU_CMD_CHANNEL_KEY_INSTALL);
  CmdbufBuilder b;
  b.fill(tref(buf_, HIX_VGPU_DT_F32), 1, 0);
  ASSERT_TRUE(run(b.finish(), &key));
  // A forged entry: sealed with another key. Its fence never shows.
  const std::array<std::uint8_t, 32> other{8};
  EXPECT_FALSE([&] {
    const auto saved = fence_;
    std::vector<std::byte> body = b.finish();
    hix_vgpu_ring_entry e{};
    e.seq = seq_ + 1;
    e.ctx = ctx_;
    e.cmd_gpa = kCmd;
    e.cmd_len = static_cast<std::uint32_t>(body.size());
    e.fence = 999;
    seal_ring_entry(e, body, other);
    std::memcpy(host(kCmd), body.data(), body.size());
    std::memcpy(host(kRing + (producer_ % 16) * sizeof e), &e, sizeof e);
    fe_->write(Reg32::doorbell, ++producer_);
    while (fe_->reg(Reg32::ring_head) != producer_) std::this_thread::yield();
    return fe_->reg(Reg32::fence) != saved;
  }());
  EXPECT_EQ(fe_->reg(Reg32::ring_forged), 1u);
  ASSERT_TRUE(run(b.finish(), &key)) << "the ring keeps working";
}

TEST_F(ServerProcess, TheDmaDenyMapIsHonoured) {
  attach_ram();
  setup_device();
  const std::uint64_t epc = kLow + 0x100000;
  struct {
    hix_vgpu_dma_deny d;
    hix_vgpu_range r;
  } deny{{1, 0}, {epc, 0x1000}};
  ASSERT_EQ(fe_->ack_status(HIX_VGPU_MSG_DMA_DENY, &deny, sizeof deny), 0u);
  std::memset(host(epc), 0x11, 64);
  CmdbufBuilder b;
  b.dma(HIX_VGPU_OP_DMA_OUT, tref(buf_, HIX_VGPU_DT_F32), {.gpa = epc, .bytes = 64});
  ASSERT_TRUE(run(b.finish()));
  EXPECT_EQ(fe_->reg(Reg32::exec_errors), 1u);
  EXPECT_EQ(fe_->reg(Reg32::dma_denied), 1u);
  EXPECT_EQ(host(epc)[0], std::byte{0x11}) << "EPC untouched";
}

TEST_F(ServerProcess, LockChangesScrubBeforeTheAck) {
  attach_ram();
  setup_device();
  hix_vgpu_set_lock lock{1, 0, 0xE0C1A7E};
  ASSERT_EQ(fe_->ack_status(HIX_VGPU_MSG_SET_LOCK, &lock, sizeof lock), 0u);
  EXPECT_EQ(fe_->reg(Reg32::status), HIX_GPU_STATUS_READY | HIX_GPU_STATUS_LOCKED);
  fe_->write(Reg32::arg0, ctx_);
  fe_->write(Reg32::cmd, HIX_GPU_CMD_CTX_DESTROY);
  EXPECT_EQ(fe_->reg(Reg32::cmd_status), static_cast<std::uint32_t>(HIX_VGPU_BAD_CONTEXT))
      << "the context set up before the lock is gone";
  ASSERT_EQ(fe_->ack_status(HIX_VGPU_MSG_RESET, nullptr, 0), 0u);
  EXPECT_EQ(fe_->reg(Reg32::cmd_status), 0u);
}

TEST_F(ServerProcess, MalformedMessagesAreAnsweredAndTheServerLivesOn) {
  Reply r;
  ASSERT_TRUE(fe_->send_raw(std::vector<std::byte>(5, std::byte{1})));  // short header
  ASSERT_TRUE(fe_->recv_reply(r));
  EXPECT_EQ(r.h.type, HIX_VGPU_MSG_NAK | HIX_VGPU_MSG_REPLY);
  r = fe_->request(0x55, nullptr, 0);  // unknown type
  EXPECT_EQ(r.h.type, HIX_VGPU_MSG_NAK | HIX_VGPU_MSG_REPLY);
  EXPECT_EQ(r.as<hix_vgpu_ack>().status, static_cast<std::uint32_t>(HIX_VGPU_INVALID_ARG));
  hix_vgpu_guest_ram g{1, 0};
  r = fe_->request(HIX_VGPU_MSG_GUEST_RAM, &g, sizeof g);  // no descriptor, short table
  EXPECT_EQ(r.h.type, HIX_VGPU_MSG_NAK | HIX_VGPU_MSG_REPLY);
  hix_vgpu_hello hello{1, 0};
  r = fe_->request(HIX_VGPU_MSG_HELLO, &hello, sizeof hello, memfd_);  // stray descriptor
  EXPECT_EQ(r.h.type, HIX_VGPU_MSG_NAK | HIX_VGPU_MSG_REPLY);
  struct {
    hix_vgpu_guest_ram g;
    hix_vgpu_ram_region reg;
  } bad{{1, 0}, {0, 64ull << 20, 0}};  // larger than the memfd
  EXPECT_EQ(fe_->ack_status(HIX_VGPU_MSG_GUEST_RAM, &bad, sizeof bad, memfd_),
            static_cast<std::uint32_t>(HIX_VGPU_INVALID_ARG));
  EXPECT_EQ(fe_->reg(Reg32::id), HIX_GPU_ID_VALUE) << "still serving";
}

TEST_F(ServerProcess, ServerDeathIsVisibleToTheFrontend) {
  EXPECT_EQ(fe_->reg(Reg32::id), HIX_GPU_ID_VALUE);
  ASSERT_EQ(kill(pid_, SIGKILL), 0);
  killed_ = true;
  int status = 0;
  ASSERT_EQ(waitpid(pid_, &status, 0), pid_);
  pid_ = -1;
  // The frontend's next access fails instead of hanging: it marks the
  // device failed (spec §10.6).
  hix_vgpu_mmio_read m{0, 4, 0};
  Reply r;
  const bool sent = fe_->send_msg(HIX_VGPU_MSG_MMIO_READ, &m, sizeof m);
  EXPECT_FALSE(sent && fe_->recv_reply(r));
  pid_ = fork();  // a stand-in child for TearDown's wait
  if (pid_ == 0) _exit(0);
}

TEST(ServerSocket, ListensOnAPathAndExitsWhenTheFrontendHangsUp) {
  const std::string path = "/tmp/hix-vgpu-test-" + std::to_string(getpid()) + ".sock";
  unlink(path.c_str());
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl(HIX_VGPU_SERVER, "hix-vgpu-server", "--socket", path.c_str(), "--vram-mib", "4",
          "--quiet", static_cast<char*>(nullptr));
    _exit(127);
  }
  struct stat st {};
  for (int i = 0; i < 2000 && stat(path.c_str(), &st) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(S_ISSOCK(st.st_mode));
  const int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  // sockaddr_un -> sockaddr, as the sockets API requires
  ASSERT_EQ(connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  {
    Frontend fe(s);
    EXPECT_EQ(fe.reg(Reg32::version), HIX_GPU_VERSION_VALUE);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(stat(path.c_str(), &st), 0) << "the socket file is removed";
}

TEST(ServerUsage, BadCommandLinesExitTwo) {
  for (const auto& args : std::vector<std::vector<const char*>>{
           {"hix-vgpu-server"},
           {"hix-vgpu-server", "--fd", "x"},
           {"hix-vgpu-server", "--fd", "3", "--socket", "/tmp/x"},
           {"hix-vgpu-server", "--fd", "3", "--backend", "tpu"}}) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::vector<char*> argv;
      argv.reserve(args.size() + 1);
      for (const char* a : args) argv.push_back(const_cast<char*>(a));  // execv's signature
      argv.push_back(nullptr);
      const int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 2);
      execv(HIX_VGPU_SERVER, argv.data());
      _exit(127);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_EQ(WEXITSTATUS(status), 2) << args.size();
  }
}

}  // namespace
}  // namespace hix::vgpu::test
