// hix-image-tamper IN OUT [--symbol NAME]
//
// Writes a copy of the enclave image IN to OUT with exactly one bit changed:
// the lowest bit of the first byte of symbol NAME (default hix_image_tag, a
// tag every SDK image carries in .data). The copy still loads and runs, but
// its MRENCLAVE differs: the "substituted enclave binary" case of the attack
// tests. Exit status: 0, 1 on error.
#include <cstdio>
#include <fstream>
#include <string>

#include "hix/loader/elf_symbols.hpp"
#include "hix/loader/enclave_image.hpp"
#include "hix_sdk/ecall_abi.h"

int main(int argc, char** argv) {
  std::string in_path;
  std::string out_path;
  std::string symbol = HIX_SDK_IMAGE_TAG_SYMBOL;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--symbol" && i + 1 < argc) {
      symbol = argv[++i];
    } else if (in_path.empty()) {
      in_path = a;
    } else if (out_path.empty()) {
      out_path = a;
    } else {
      in_path.clear();
      break;
    }
  }
  if (in_path.empty() || out_path.empty()) {
    std::fprintf(stderr, "usage: hix-image-tamper IN OUT [--symbol NAME]\n");
    return 2;
  }
  auto bytes = hix::loader::read_file(in_path);
  if (!bytes.ok()) {
    std::fprintf(stderr, "hix-image-tamper: %s\n", bytes.detail().c_str());
    return 1;
  }
  const auto symbols = hix::loader::read_symbols(bytes.value());
  if (!symbols.ok()) {
    std::fprintf(stderr, "hix-image-tamper: %s\n", symbols.detail().c_str());
    return 1;
  }
  const hix::loader::ElfSymbol* target = nullptr;
  for (const auto& s : symbols.value()) {
    if (s.name == symbol && s.section != 0) target = &s;
  }
  if (target == nullptr) {
    std::fprintf(stderr, "hix-image-tamper: %s: no symbol %s\n", in_path.c_str(), symbol.c_str());
    return 1;
  }
  const auto offset = hix::loader::file_offset_of(bytes.value(), target->value);
  if (!offset.ok()) {
    std::fprintf(stderr, "hix-image-tamper: %s: %s\n", symbol.c_str(), offset.detail().c_str());
    return 1;
  }
  bytes.value()[offset.value()] ^= 1u;
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  // reinterpret_cast: ostream writes chars; the bytes are the same storage.
  out.write(reinterpret_cast<const char*>(bytes->data()),
            static_cast<std::streamsize>(bytes->size()));
  if (!out) {
    std::fprintf(stderr, "hix-image-tamper: %s: write failed\n", out_path.c_str());
    return 1;
  }
  std::printf("flipped bit 0 of file offset 0x%llx (%s at 0x%llx)\n",
              static_cast<unsigned long long>(offset.value()), symbol.c_str(),
              static_cast<unsigned long long>(target->value));
  return 0;
}
