// An ELF image's symbol table and address -> file offset mapping, for the
// image checks (tests) and hix-image-tamper. Hostile input: bounds-checked.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hix/loader/status.hpp"

namespace hix::loader {

struct ElfSymbol {
  std::string name;
  std::uint64_t value = 0;
  std::uint64_t size = 0;
  std::uint16_t section = 0;  // SHN_UNDEF (0) for an undefined symbol
  std::uint8_t binding = 0;   // STB_*
  std::uint8_t type = 0;      // STT_*
};

// Every entry of .symtab but the null symbol 0. A stripped image has none.
Result<std::vector<ElfSymbol>> read_symbols(std::span<const std::uint8_t> elf);

// The file offset holding the byte at `vaddr` (inside some PT_LOAD's file
// contents), or bad_segment if no segment's file bytes cover it.
Result<std::uint64_t> file_offset_of(std::span<const std::uint8_t> elf, std::uint64_t vaddr);

}  // namespace hix::loader
