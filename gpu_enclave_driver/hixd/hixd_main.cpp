// hixd: the protected inference daemon (docs/specs/hix-session.md). Untrusted
// guest user space: it listens for clients on TCP, moves their ciphertext
// between sockets, disks and its staging memory, and enters the GPU enclave
// for everything else. See --help.
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "disks.hpp"
#include "enclave_backend.hpp"
#include "hix/session/platform.hpp"
#include "pci_sysfs.hpp"
#include "server.hpp"
#include "service_backend.hpp"
#include "staging.hpp"

namespace {

using namespace hix::hixd;

constexpr int kExitOk = 0;
constexpr int kExitSetup = 1;
constexpr int kExitUsage = 2;

constexpr const char* kDefaultEnclave = "/usr/share/openhix/enclaves/gpu_enclave.elf";

std::atomic<bool> g_stop{false};

void on_signal(int) {
  g_stop.store(true);
}

void usage(std::FILE* f) {
  std::fprintf(f,
               "usage: hixd [options]\n"
               "The protected inference daemon: serves hix-session clients on TCP\n"
               "(docs/specs/hix-session.md) through the GPU enclave.\n"
               "\n"
               "  --port P          TCP port to listen on (default 7000)\n"
               "  --bind ADDR       IPv4 address to listen on (default 0.0.0.0)\n"
               "  --plain           plain mode: no enclave, no device lock; BAR0 through\n"
               "                    sysfs resource0 and the session core in this process\n"
               "  --enclave PATH    the GPU enclave image (default %s)\n"
               "  --staging-mib N   staging memory from HIX_IOC_STAGING (default 64): the\n"
               "                    ring area (1 MiB) and every session's window\n"
               "  --disk PATH       a disk LOAD reads (repeatable; default /dev/vda..vdh)\n"
               "  --status-file F   counters after every event (default /run/hixd.status;\n"
               "                    empty: none)\n"
               "  --stall-ms MS     drop a client idle inside a frame this long (10000)\n"
               "  --help            this text\n"
               "\n"
               "Logs one line per event on stderr, starting 'hixd: ready mode=...' once\n"
               "it serves. Exit status: 0 after SIGTERM/SIGINT, 1 when it could not\n"
               "start (no /dev/hix, no hix-gpu, enclave load, lock, INIT, staging, port),\n"
               "2 for a bad command line.\n",
               kDefaultEnclave);
}

struct Options {
  ServerConfig server;
  bool plain = false;
  std::string enclave = kDefaultEnclave;
  std::uint64_t staging_mib = 64;
  std::vector<std::string> disks;
};

bool parse_u64(const char* s, std::uint64_t max, std::uint64_t& out) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (end == s || *end != '\0' || v > max) return false;
  out = v;
  return true;
}

int parse(int argc, char** argv, Options& o) {
  enum { kPort = 1, kBind, kPlain, kEnclave, kStaging, kDisk, kStatus, kStall, kHelp };
  static const option longopts[] = {
      {"port", required_argument, nullptr, kPort},
      {"bind", required_argument, nullptr, kBind},
      {"plain", no_argument, nullptr, kPlain},
      {"enclave", required_argument, nullptr, kEnclave},
      {"staging-mib", required_argument, nullptr, kStaging},
      {"disk", required_argument, nullptr, kDisk},
      {"status-file", required_argument, nullptr, kStatus},
      {"stall-ms", required_argument, nullptr, kStall},
      {"help", no_argument, nullptr, kHelp},
      {nullptr, 0, nullptr, 0},
  };
  for (;;) {
    const int c = getopt_long(argc, argv, "", longopts, nullptr);
    if (c == -1) break;
    std::uint64_t v = 0;
    switch (c) {
      case kPort:
        if (!parse_u64(optarg, 65535, v)) return kExitUsage;
        o.server.port = static_cast<std::uint16_t>(v);
        break;
      case kBind:
        o.server.bind = optarg;
        break;
      case kPlain:
        o.plain = true;
        break;
      case kEnclave:
        o.enclave = optarg;
        break;
      case kStaging:
        if (!parse_u64(optarg, 4096, v) || v < 2) return kExitUsage;
        o.staging_mib = v;
        break;
      case kDisk:
        o.disks.emplace_back(optarg);
        break;
      case kStatus:
        o.server.status_path = optarg;
        break;
      case kStall:
        if (!parse_u64(optarg, 3600000, v) || v == 0) return kExitUsage;
        o.server.stall_ms = static_cast<int>(v);
        break;
      case kHelp:
        usage(stdout);
        std::exit(kExitOk);
      default:
        return kExitUsage;
    }
  }
  if (optind != argc) return kExitUsage;
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (parse(argc, argv, o) != kExitOk) {
    usage(stderr);
    return kExitUsage;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::string why;
  const auto gpu = find_hix_gpu(why);
  if (!gpu) {
    std::fprintf(stderr, "hixd: %s\n", why.c_str());
    return kExitSetup;
  }
  auto staging = hix_staging(o.staging_mib << 20, why);
  if (!staging) {
    std::fprintf(stderr, "hixd: %s\n", why.c_str());
    return kExitSetup;
  }
  Disks disks;
  if (o.disks.empty()) {
    disks.scan_virtio();
  } else {
    disks.open_paths(o.disks);
  }

  BackendFactory factory;
  if (o.plain) {
    factory = [dev = *gpu](std::string& err) -> std::unique_ptr<Backend> {
      auto bar0 = SysfsBar0::map(dev, err);
      if (!bar0) return nullptr;
      hix::session::ServiceOptions opts;
      opts.mode = hix::session::Mode::plain;
      return std::make_unique<ServiceBackend>(
          std::move(bar0), std::make_unique<hix::session::SodiumPlatform>(), opts, "plain");
    };
  } else {
    factory = [dev = *gpu, image = o.enclave](std::string& err) -> std::unique_ptr<Backend> {
      return EnclaveBackend::create(image, dev, err);
    };
  }

  // The status file's directory (/run): the guest's initramfs has none.
  const auto slash = o.server.status_path.rfind('/');
  if (slash != std::string::npos && slash != 0) {
    ::mkdir(o.server.status_path.substr(0, slash).c_str(), 0755);
  }

  Server server(o.server, *staging, disks, std::move(factory));
  if (!server.start(why)) {
    std::fprintf(stderr, "hixd: cannot start: %s\n", why.c_str());
    return kExitSetup;
  }
  server.run(g_stop);
  std::fprintf(stderr, "hixd: stopping\n");
  return kExitOk;
}
