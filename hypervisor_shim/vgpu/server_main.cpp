// hix-vgpu-server: the hix-gpu device server (docs/specs/hix-gpu.md §10.5).
//   hix-vgpu-server (--socket PATH | --fd N) [--vram-mib N] [--backend cpu] [--quiet]
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "cpu_backend.hpp"
#include "server.hpp"

namespace {

int usage(const char* why) {
  std::fprintf(stderr,
               "hix-vgpu-server: %s\n"
               "usage: hix-vgpu-server (--socket PATH | --fd N) [--vram-mib N] "
               "[--backend cpu] [--quiet]\n",
               why);
  return 2;
}

bool parse_u64(const char* s, std::uint64_t& out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0') return false;
  out = v;
  return true;
}

// Listens on `path`; the socket appears there only once it is listening.
int listen_at(const std::string& path) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (tmp.size() >= sizeof addr.sun_path) return -1;
  std::memcpy(addr.sun_path, tmp.c_str(), tmp.size() + 1);
  const int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  unlink(tmp.c_str());
  // sockaddr_un -> sockaddr, as the sockets API requires
  if (bind(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 || listen(s, 1) != 0 ||
      rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    close(s);
    return -1;
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path;
  std::uint64_t fd = 0;
  bool have_fd = false;
  std::uint64_t vram_mib = 1024;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--socket" && has_value) {
      socket_path = argv[++i];
    } else if (a == "--fd" && has_value) {
      if (!parse_u64(argv[++i], fd) || fd > 1024) return usage("--fd needs a descriptor number");
      have_fd = true;
    } else if (a == "--vram-mib" && has_value) {
      if (!parse_u64(argv[++i], vram_mib) || vram_mib == 0 || vram_mib > (1u << 20)) {
        return usage("--vram-mib needs a size in MiB");
      }
    } else if (a == "--backend" && has_value) {
      if (std::string_view(argv[++i]) != "cpu") return usage("only the cpu backend is built");
    } else if (a == "--quiet") {
      quiet = true;
    } else {
      return usage("unknown or incomplete option");
    }
  }
  if (socket_path.empty() == !have_fd) return usage("give exactly one of --socket and --fd");
  std::signal(SIGPIPE, SIG_IGN);

  int conn = static_cast<int>(fd);
  if (!have_fd) {
    const int listener = listen_at(socket_path);
    if (listener < 0) {
      std::fprintf(stderr, "hix-vgpu-server: cannot listen on %s: %s\n", socket_path.c_str(),
                   std::strerror(errno));
      return 1;
    }
    if (!quiet) std::fprintf(stderr, "hix-vgpu-server: listening on %s\n", socket_path.c_str());
    conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    close(listener);
    unlink(socket_path.c_str());
    if (conn < 0) {
      std::fprintf(stderr, "hix-vgpu-server: accept: %s\n", std::strerror(errno));
      return 1;
    }
  }
  auto backend = hix::vgpu::CpuBackend::create(vram_mib << 20);
  if (!backend) {
    std::fprintf(stderr, "hix-vgpu-server: cannot reserve %llu MiB of VRAM\n",
                 static_cast<unsigned long long>(vram_mib));
    return 1;
  }
  hix::vgpu::DeviceConfig cfg;
  cfg.inline_execution = false;
  hix::vgpu::Server server(conn, std::make_unique<hix::vgpu::Device>(std::move(*backend), cfg),
                           quiet);
  const int rc = server.serve();
  if (!quiet) std::fprintf(stderr, "hix-vgpu-server: frontend gone, exiting\n");
  return rc;
}
