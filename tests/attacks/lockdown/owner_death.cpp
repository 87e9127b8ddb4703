// Attack (g): root kills the GPU enclave's process (SIGKILL: no clean-up of
// its own) while the device holds its secret, then reads the device through
// sysfs resource0 once the lock is gone.
// Expected: hix.ko destroys the enclave when the process's files close; the
// platform scrubs the device before releasing the lock (spec §12): SCRATCH
// reads its reset value, never the secret, and STATUS.LOCKED is clear.
// Starts its own hix-gpu-owner: no other process may hold the lock meanwhile.
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>

#include "lockdown_common.hpp"

namespace {

using namespace hix::lockdown;

constexpr const char* kSocket = "/tmp/hix-owner-death.sock";

struct Child {
  pid_t pid;
  FILE* out;
};

// hix-gpu-owner --serve kSocket --hold 600, its stdout on a pipe.
Child start_owner() {
  int fds[2];
  if (pipe(fds) != 0) hix::attacks::fail("pipe");
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) hix::attacks::fail("fork");
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execlp("hix-gpu-owner", "hix-gpu-owner", "--serve", kSocket, "--hold", "600",
           static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  return {pid, fdopen(fds[0], "r")};
}

// Passes the owner's lines through until it serves; false if it never does.
bool wait_ready(FILE* out) {
  char line[4096];
  while (std::fgets(line, sizeof line, out) != nullptr) {
    std::fputs(line, stdout);
    if (std::string(line).rfind("OWNER-READY", 0) == 0) return true;
  }
  return false;
}

}  // namespace

int main() {
  const PciFunction gpu = require_hix_gpu();
  Child owner_proc = start_owner();
  if (!wait_ready(owner_proc.out)) hix::attacks::fail("hix-gpu-owner did not start");
  std::fflush(stdout);

  std::uint32_t secret = 0;
  const std::uint32_t arg_secret = random_word();
  bool arg_planted = false;
  {
    OwnerClient owner = OwnerClient::connect(kSocket);
    secret = plant_secret(owner);
    // ARG0 too, where the device has it (the device server's mailbox): any
    // RW register can carry an enclave's data.
    arg_planted = owner.write(Reg32::arg0, arg_secret) && owner.read(Reg32::arg0) == arg_secret;
  }
  const auto bar = MappedRange::map(gpu.sysfs() + "/resource0", 0, hix::gpu::kBar0Size);
  if (!bar) hix::attacks::fail("mmap resource0: %s", std::strerror(errno));
  const std::uint32_t scratch_off = hix::gpu::offset_of(Reg32::scratch).value;
  const std::uint32_t status_off = hix::gpu::offset_of(Reg32::status).value;
  const std::uint32_t while_locked = bar->read32(scratch_off);

  kill(owner_proc.pid, SIGKILL);
  int wstatus = 0;
  waitpid(owner_proc.pid, &wstatus, 0);
  std::fclose(owner_proc.out);

  // hix.ko destroys the enclave as the dead process's files close; allow the
  // driver's retry window before calling the lock stuck.
  std::uint32_t status = bar->read32(status_off);
  for (int i = 0; i < 300 && (status & hix::gpu::status::locked) != 0; ++i) {
    const timespec ten_ms{0, 10'000'000};
    nanosleep(&ten_ms, nullptr);
    status = bar->read32(status_off);
  }
  const std::uint32_t scratch = bar->read32(scratch_off);
  const std::uint32_t arg0 = bar->read32(hix::gpu::offset_of(Reg32::arg0).value);
  const std::uint32_t id = bar->read32(hix::gpu::offset_of(Reg32::id).value);
  const bool locked = (status & hix::gpu::status::locked) != 0;
  const bool survived = scratch == secret || (arg_planted && arg0 == arg_secret);
  report({.property = "owner-death", .path = "sigkill", .outcome = outcome(survived)},
         "scratch_after=0x%08x arg0_after=0x%08x status_after=0x%08x locked_after=%s "
         "id_after=0x%08x secret=0x%08x arg0_secret=0x%08x arg0_planted=%s while_locked=0x%08x "
         "killed_by=%d",
         scratch, arg0, status, locked ? "yes" : "no", id, secret, arg_secret,
         arg_planted ? "yes" : "no", while_locked, WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
  return 0;
}
