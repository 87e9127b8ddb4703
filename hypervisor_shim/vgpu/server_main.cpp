// hix-vgpu-server: the hix-gpu device server (docs/specs/hix-gpu.md §10.5).
//   hix-vgpu-server (--socket PATH | --fd N) [--vram-mib N] [--backend cpu|cuda]
//                   [--peer-disk FILE]... [--quiet]
// The cuda backend exists in builds with HIX_ENABLE_CUDA and needs a GPU.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "cpu_backend.hpp"
#include "server.hpp"
#ifdef HIX_HAVE_CUDA_BACKEND
#include "cuda_backend.hpp"
#endif

namespace {

int usage(const char* why) {
  std::fprintf(stderr,
               "hix-vgpu-server: %s\n"
               "usage: hix-vgpu-server (--socket PATH | --fd N) [--vram-mib N] "
               "[--backend cpu|cuda] [--peer-disk FILE]... [--quiet]\n",
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

hix::vgpu::Result<std::unique_ptr<hix::vgpu::Backend>> make_backend(std::string_view name,
                                                                    std::uint64_t vram) {
  if (name == "cuda") {
#ifdef HIX_HAVE_CUDA_BACKEND
    auto b =
        hix::vgpu::cuda::CudaBackend::create(vram, hix::vgpu::cuda::options_from_environment());
    if (!b) return b.status();
    return std::unique_ptr<hix::vgpu::Backend>(std::move(*b));
#else
    return hix::vgpu::Status::unavailable;  // built without HIX_ENABLE_CUDA
#endif
  }
  auto b = hix::vgpu::CpuBackend::create(vram);
  if (!b) return b.status();
  return std::unique_ptr<hix::vgpu::Backend>(std::move(*b));
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path;
  std::uint64_t fd = 0;
  bool have_fd = false;
  std::uint64_t vram_mib = 1024;
  bool quiet = false;
  std::string_view backend_name = "cpu";
  auto peers = std::make_shared<hix::vgpu::PeerDisks>();
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
      backend_name = argv[++i];
      if (backend_name != "cpu" && backend_name != "cuda") return usage("--backend is cpu or cuda");
    } else if (a == "--peer-disk" && has_value) {
      const char* path = argv[++i];
      if (!peers->add(path)) {
        std::fprintf(stderr, "hix-vgpu-server: peer disk %s: %s\n", path, std::strerror(errno));
        return 2;
      }
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
  auto backend = make_backend(backend_name, vram_mib << 20);
  if (!backend) {
    std::fprintf(stderr, "hix-vgpu-server: no %.*s backend with %llu MiB of VRAM: %.*s\n",
                 static_cast<int>(backend_name.size()), backend_name.data(),
                 static_cast<unsigned long long>(vram_mib),
                 static_cast<int>(hix::vgpu::to_string(backend.status()).size()),
                 hix::vgpu::to_string(backend.status()).data());
    return 1;
  }
  hix::vgpu::DeviceConfig cfg;
  cfg.inline_execution = false;
  cfg.peer_disks = std::move(peers);
  hix::vgpu::Server server(conn, std::make_unique<hix::vgpu::Device>(std::move(*backend), cfg),
                           quiet);
  const int rc = server.serve();
  if (!quiet) std::fprintf(stderr, "hix-vgpu-server: frontend gone, exiting\n");
  return rc;
}
