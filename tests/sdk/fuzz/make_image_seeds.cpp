// Writes valid synthetic enclave images as fuzzing seeds (one file each).
#include <cstdio>
#include <string>
#include <vector>

#include "elf_builder.hpp"

namespace {

bool write(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_image_seeds DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  using hix::test::build_elf;
  using hix::test::minimal_image;
  auto bss_only = minimal_image();
  bss_only[3].data.clear();
  auto larger = minimal_image();
  larger[3].memsz = 0x5000;
  bool ok = write(dir + "/minimal.elf", build_elf(minimal_image()));
  ok = write(dir + "/bss_only.elf", build_elf(bss_only)) && ok;
  ok = write(dir + "/larger.elf", build_elf(larger)) && ok;
  return ok ? 0 : 1;
}
