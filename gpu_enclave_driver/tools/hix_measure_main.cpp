// hix-measure [--pages] IMAGE
//
// Prints the MRENCLAVE that the shim will compute for IMAGE when the SDK
// loader loads it (docs/specs/hix-isa.md §6): 64 lower-case hex digits on
// stdout. --pages also lists ELRANGE and every page (offset, EPCM flags) on
// stderr. Exit status: 0, or 1 when IMAGE is not a valid enclave image.
#include <cstdio>
#include <string>

#include "hix/loader/enclave_image.hpp"
#include "hix/loader/measurement.hpp"

int main(int argc, char** argv) {
  bool list_pages = false;
  std::string path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--pages") {
      list_pages = true;
    } else if (path.empty() && a.rfind("--", 0) != 0) {
      path = a;
    } else {
      path.clear();
      break;
    }
  }
  if (path.empty()) {
    std::fprintf(stderr, "usage: hix-measure [--pages] IMAGE\n");
    return 2;
  }
  if (sodium_init() < 0) {
    std::fprintf(stderr, "hix-measure: libsodium failed to initialise\n");
    return 1;
  }
  const auto image = hix::loader::load_enclave_image(path);
  if (!image.ok()) {
    std::fprintf(stderr, "hix-measure: %s (%s)\n", image.detail().c_str(),
                 hix::loader::to_string(image.status()));
    return 1;
  }
  if (list_pages) {
    std::fprintf(stderr, "base=0x%llx size=0x%llx pages=%zu\n",
                 static_cast<unsigned long long>(image->base.value),
                 static_cast<unsigned long long>(image->size), image->pages.size());
    for (const auto& p : image->pages) {
      std::fprintf(stderr, "  +0x%08llx %s\n", static_cast<unsigned long long>(p.offset.value),
                   hix::loader::describe_flags(p.flags).c_str());
    }
  }
  std::printf("%s\n", hix::loader::to_hex(hix::loader::measure_image(image.value())).c_str());
  return 0;
}
