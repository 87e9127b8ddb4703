// Attack (a) of the session suite: root scans all of guest RAM for a live
// session's secrets — the prompt's bytes, a weight tensor's bytes and the
// generated tokens — through /proc/kcore and through the attacker's kernel
// module (hix_attack.ko, the direct map page by page). With protection on,
// none may be found; in plain mode (the control) every one must be.
//
//   hix-attack-memscan [--path kcore|kmod]... --needle NAME=HEX...
//
// Output, one line per (path, needle), then a summary:
//   SCAN path=kcore needle=prompt found=N first=0xPHYS bytes=B seconds=S
//   SCAN-DONE paths=P needles=N found=K
// Exit status: 0 when the scan ran (whatever it found), 2 on a setup error.
#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "attack_common.hpp"

namespace {

using hix::attacks::AttackDevice;
using hix::attacks::fail;

// The scanner's own copy of a needle must not be what it finds: it keeps the
// first byte inverted, searches for the rest and checks the byte before a
// hit against the inverted one inverted back.
struct Needle {
  std::string name;
  std::vector<std::uint8_t> bytes;  // bytes[0] stored inverted
  std::uint64_t found = 0;
  std::uint64_t first = 0;
};

struct Range {
  std::uint64_t begin, end;  // [begin, end) physical
};

std::vector<std::uint8_t> from_hex(const std::string& hex) {
  std::vector<std::uint8_t> out;
  if (hex.size() % 2 != 0) fail("odd hex length");
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// "System RAM" ranges from /proc/iomem (root sees the real addresses).
std::vector<Range> system_ram() {
  std::ifstream f("/proc/iomem");
  std::vector<Range> out;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == ' ' || line.find("System RAM") == std::string::npos) continue;
    const auto dash = line.find('-');
    const auto colon = line.find(" : ");
    if (dash == std::string::npos || colon == std::string::npos) continue;
    const std::uint64_t b = std::stoull(line.substr(0, dash), nullptr, 16);
    const std::uint64_t e = std::stoull(line.substr(dash + 1, colon - dash - 1), nullptr, 16);
    if (e > b) out.push_back({b, e + 1});
  }
  if (out.empty()) fail("no System RAM in /proc/iomem");
  return out;
}

// Reads one block of physical memory; false when this path cannot.
using BlockReader = std::function<bool(std::uint64_t phys, std::span<std::uint8_t> out)>;

// Scans every RAM range block by block, carrying the last bytes of a block
// into the next so a needle that straddles two blocks is still found.
std::uint64_t scan(const std::vector<Range>& ram, const BlockReader& read,
                   std::vector<Needle>& needles) {
  constexpr std::size_t kBlock = 1 << 20;
  std::size_t longest = 0;
  for (const Needle& n : needles) longest = std::max(longest, n.bytes.size());
  std::vector<std::uint8_t> buf(longest + kBlock);
  std::uint64_t scanned = 0;
  for (const Range& r : ram) {
    std::size_t carry = 0;
    for (std::uint64_t p = r.begin; p < r.end; p += kBlock) {
      const std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, r.end - p));
      if (!read(p, std::span(buf.data() + carry, len))) {
        carry = 0;
        continue;
      }
      scanned += len;
      const std::size_t have = carry + len;
      for (Needle& n : needles) {
        const std::uint8_t* at = buf.data();
        const std::uint8_t* end = buf.data() + have;
        const std::size_t rest = n.bytes.size() - 1;
        at += 1;
        while (at < end) {
          const void* hit =
              memmem(at, static_cast<std::size_t>(end - at), n.bytes.data() + 1, rest);
          if (hit == nullptr) break;
          const auto* h = static_cast<const std::uint8_t*>(hit) - 1;
          const bool whole = static_cast<std::uint8_t>(h[0] ^ 0xFFu) == n.bytes[0];
          const std::uint64_t phys = p - carry + static_cast<std::uint64_t>(h - buf.data());
          // A hit wholly inside the carried bytes was counted last block.
          if (whole && h + n.bytes.size() > buf.data() + carry) {
            if (n.found++ == 0) n.first = phys;
          }
          at = h + 2;
        }
      }
      carry = std::min(longest > 0 ? longest - 1 : 0, have);
      std::memmove(buf.data(), buf.data() + have - carry, carry);
    }
  }
  return scanned;
}

// /proc/kcore: the PT_LOAD segments with a physical address are the direct
// map of RAM.
class Kcore {
 public:
  Kcore() {
    fd_ = ::open("/proc/kcore", O_RDONLY);
    if (fd_ < 0) fail("/proc/kcore: %s", std::strerror(errno));
    Elf64_Ehdr eh{};
    if (pread(fd_, &eh, sizeof eh, 0) != static_cast<ssize_t>(sizeof eh)) fail("kcore header");
    phdrs_.resize(eh.e_phnum);
    const auto bytes = static_cast<ssize_t>(phdrs_.size() * sizeof(Elf64_Phdr));
    if (pread(fd_, phdrs_.data(), static_cast<size_t>(bytes), static_cast<off_t>(eh.e_phoff)) !=
        bytes) {
      fail("kcore program headers");
    }
  }
  ~Kcore() { ::close(fd_); }
  Kcore(const Kcore&) = delete;
  Kcore& operator=(const Kcore&) = delete;

  bool read(std::uint64_t phys, std::span<std::uint8_t> out) const {
    for (const Elf64_Phdr& p : phdrs_) {
      if (p.p_type != PT_LOAD || p.p_paddr == ~0ull || phys < p.p_paddr ||
          phys + out.size() > p.p_paddr + p.p_memsz) {
        continue;
      }
      const auto off = static_cast<off_t>(p.p_offset + (phys - p.p_paddr));
      return pread(fd_, out.data(), out.size(), off) == static_cast<ssize_t>(out.size());
    }
    return false;
  }

 private:
  int fd_ = -1;
  std::vector<Elf64_Phdr> phdrs_;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> paths;
  std::vector<Needle> needles;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc)
      fail("usage: hix-attack-memscan [--path kcore|kmod]... --needle NAME=HEX...");
    const std::string v = argv[++i];
    if (a == "--path") {
      if (v != "kcore" && v != "kmod") fail("unknown path %s", v.c_str());
      paths.push_back(v);
    } else if (a == "--needle") {
      const auto eq = v.find('=');
      if (eq == std::string::npos) fail("--needle NAME=HEX");
      needles.push_back({v.substr(0, eq), from_hex(v.substr(eq + 1)), 0, 0});
      if (needles.back().bytes.size() < 16) fail("needle %s: use at least 16 bytes", v.c_str());
      needles.back().bytes[0] ^= 0xFFu;
    } else {
      fail("unknown option %s", a.c_str());
    }
  }
  if (paths.empty()) paths = {"kcore", "kmod"};
  if (needles.empty()) fail("no --needle");
  const std::vector<Range> ram = system_ram();

  std::uint64_t total_found = 0;
  for (const std::string& path : paths) {
    for (Needle& n : needles) n.found = n.first = 0;
    const auto t0 = std::chrono::steady_clock::now();
    std::uint64_t scanned = 0;
    if (path == "kcore") {
      const Kcore kcore;
      scanned = scan(
          ram, [&](std::uint64_t p, std::span<std::uint8_t> o) { return kcore.read(p, o); },
          needles);
    } else {
      AttackDevice dev;
      scanned = scan(
          ram,
          [&](std::uint64_t p, std::span<std::uint8_t> o) {
            // The module reads one page per call; a page it refuses (not
            // RAM to it) reads as zeros, like a hole.
            for (std::size_t off = 0; off < o.size(); off += 4096) {
              const auto page = o.subspan(off, std::min<std::size_t>(4096, o.size() - off));
              if (dev.read_phys(hix::attacks::PhysRead::direct, p + off, page) != 0) {
                std::memset(page.data(), 0, page.size());
              }
            }
            return true;
          },
          needles);
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const Needle& n : needles) {
      std::printf("SCAN path=%s needle=%s found=%llu first=0x%llx bytes=%llu seconds=%.1f\n",
                  path.c_str(), n.name.c_str(), static_cast<unsigned long long>(n.found),
                  static_cast<unsigned long long>(n.first),
                  static_cast<unsigned long long>(scanned), s);
      total_found += n.found > 0 ? 1 : 0;
    }
    std::fflush(stdout);
  }
  std::printf("SCAN-DONE paths=%zu needles=%zu found=%llu\n", paths.size(), needles.size(),
              static_cast<unsigned long long>(total_found));
  return 0;
}
