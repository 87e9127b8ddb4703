// hix-gpu-owner: the lockdown suite's device owner. Loads the gpu_owner
// enclave, locks the hix-gpu to it (HIX_IOC_GLOCK, BAR0 at a GLRANGE), writes
// a secret to SCRATCH through the enclave and reads it back, checks that
// EREPORT names the locked device, then holds the lock while attackers run.
//
//   hix-gpu-owner [--image PATH] [--serve SOCKET] [--run COMMAND | --hold SECONDS]
//
//   --serve SOCKET  answer register requests from other processes through
//                   the enclave (owner_channel.hpp); children get the path
//                   in HIX_OWNER_SOCKET
//   --run COMMAND   run COMMAND (sh -c) while holding the lock, then exit
//   --hold SECONDS  hold the lock this long (or until SIGTERM), then exit
//
// Output, one line each, key=value (the verifier parses them):
//   OWNER bdf= name= bar0= bar0_size= elrange= elrange_size= glrange= lock=ok
//   OWNER-CHECK secret= write= readback= id= status= locked= result=pass|fail
//   OWNER-REPORT device_bdf= vendor= device= device_locked= data_ok= report=HEX
//   OWNER-READY socket=          (once serving)
//   OWNER-RUN exit=              (with --run)
//   OWNER-END scratch= status= enclave=alive|dead
// Exit status: 0 when OWNER-CHECK passed, 1 when not, 2 on setup failure.
#include <signal.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "lockdown_common.hpp"

namespace {

using hix::gpu::Reg32;
using hix::lockdown::GpuOwner;
using hix::lockdown::OwnerAccess;
using hix::lockdown::OwnerServer;
using hix::lockdown::random_word;

volatile sig_atomic_t g_stop = 0;

void on_term(int /*sig*/) {
  g_stop = 1;
}

struct Options {
  const char* image = hix::lockdown::kGpuOwnerImage;
  const char* socket = nullptr;
  const char* run = nullptr;
  long hold_s = -1;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: hix-gpu-owner [--image PATH] [--serve SOCKET] "
               "[--run COMMAND | --hold SECONDS]\n");
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage();
    if (a == "--image") {
      o.image = argv[++i];
    } else if (a == "--serve") {
      o.socket = argv[++i];
    } else if (a == "--run") {
      o.run = argv[++i];
    } else if (a == "--hold") {
      o.hold_s = std::strtol(argv[++i], nullptr, 10);
    } else {
      usage();
    }
  }
  if (o.run != nullptr && o.hold_s >= 0) usage();
  return o;
}

std::string hex(const std::uint8_t* p, std::size_t n) {
  std::string s;
  char b[3];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    s += b;
  }
  return s;
}

bool check(GpuOwner& owner) {
  const std::uint32_t secret = random_word();
  const OwnerAccess w = owner.write(Reg32::scratch, secret);
  const OwnerAccess r = owner.read(Reg32::scratch);
  const OwnerAccess id = owner.read(Reg32::id);
  const OwnerAccess st = owner.read(Reg32::status);
  const bool locked = st.ok() && (st.value & hix::gpu::status::locked) != 0;
  const bool pass =
      w.ok() && r.ok() && r.value == secret && id.ok() && id.value == hix::gpu::kIdValue && locked;
  std::printf(
      "OWNER-CHECK secret=0x%08x write=%s readback=0x%08x id=0x%08x status=0x%08x "
      "locked=%s result=%s\n",
      secret, w.ok() ? "ok" : hix::loader::to_string(w.ecall.status), r.value, id.value, st.value,
      locked ? "yes" : "no", pass ? "pass" : "fail");
  return pass;
}

void report(GpuOwner& owner) {
  std::array<std::uint8_t, HIX_REPORT_DATA_SIZE> data{};
  if (getrandom(data.data(), data.size(), 0) != static_cast<ssize_t>(data.size())) {
    hix::attacks::fail("random");
  }
  const auto r = owner.report(data);
  if (!r) {
    std::printf("OWNER-REPORT result=failed\n");
    return;
  }
  hix_report_device device{};
  static_assert(sizeof device == sizeof r->device);
  std::memcpy(&device, r->device, sizeof device);
  // reinterpret_cast: the report's wire bytes, for the host-side verifier.
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(&*r);
  std::printf(
      "OWNER-REPORT device_bdf=0x%04x vendor=0x%04x device=0x%04x device_locked=%u "
      "data_ok=%s report=%s\n",
      device.bdf, device.vendor_id, device.device_id, device.locked,
      std::memcmp(r->report_data, data.data(), data.size()) == 0 ? "yes" : "no",
      hex(bytes, sizeof *r).c_str());
}

void serve_for(GpuOwner& owner, OwnerServer* server, long seconds) {
  timespec start{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (g_stop == 0) {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec >= seconds) break;
    if (server != nullptr) {
      server->serve(owner, 100);
    } else {
      usleep(100000);
    }
  }
}

int run_child(GpuOwner& owner, OwnerServer* server, const char* command) {
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) hix::attacks::fail("fork: %s", std::strerror(errno));
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", command, static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  while (true) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (server != nullptr) {
      server->serve(owner, 100);
    } else {
      usleep(100000);
    }
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse(argc, argv);
  struct sigaction sa {};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  GpuOwner owner = GpuOwner::lock(opt.image);
  std::printf(
      "OWNER bdf=0x%04x name=%s bar0=0x%llx bar0_size=0x%llx elrange=0x%llx "
      "elrange_size=0x%llx glrange=0x%llx lock=ok\n",
      owner.gpu().bdf, owner.gpu().name.c_str(), static_cast<unsigned long long>(owner.bar0().base),
      static_cast<unsigned long long>(owner.bar0().size),
      static_cast<unsigned long long>(owner.elrange_base()),
      static_cast<unsigned long long>(owner.elrange_size()),
      static_cast<unsigned long long>(owner.glrange()));
  const bool pass = check(owner);
  report(owner);

  std::optional<OwnerServer> server =
      opt.socket != nullptr ? OwnerServer::listen(opt.socket) : std::optional<OwnerServer>{};
  if (opt.socket != nullptr) {
    if (!server) hix::attacks::fail("listen on %s: %s", opt.socket, std::strerror(errno));
    setenv(hix::lockdown::kOwnerSocketEnv, opt.socket, 1);
    std::printf("OWNER-READY socket=%s\n", opt.socket);
  }
  std::fflush(stdout);
  OwnerServer* srv = server ? &*server : nullptr;
  if (opt.run != nullptr) {
    std::printf("OWNER-RUN exit=%d\n", run_child(owner, srv, opt.run));
  } else if (opt.hold_s >= 0) {
    serve_for(owner, srv, opt.hold_s);
  }

  const OwnerAccess scratch = owner.read(Reg32::scratch);
  const OwnerAccess status = owner.read(Reg32::status);
  std::printf("OWNER-END scratch=0x%08x status=0x%08x enclave=%s\n", scratch.value, status.value,
              scratch.ok() ? "alive" : "dead");
  return pass ? 0 : 1;
}
