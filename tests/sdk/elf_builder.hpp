// Builds small synthetic ELF64 files for the image-parser tests: a header,
// program headers, and each segment's bytes at a page-aligned file offset.
#pragma once

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "hix/abi/hix_isa.h"
#include "hix_sdk/ecall_abi.h"

namespace hix::test {

struct SegmentSpec {
  std::uint32_t type = PT_LOAD;
  std::uint32_t flags = PF_R;
  std::uint64_t vaddr = 0;
  std::vector<std::uint8_t> data;  // file contents (p_filesz = data.size())
  std::uint64_t memsz = 0;         // 0: data.size()
};

// The ELF header's e_type and e_machine.
struct ElfKind {
  std::uint16_t type = ET_EXEC;
  std::uint16_t machine = EM_X86_64;
};

inline std::vector<std::uint8_t> build_elf(const std::vector<SegmentSpec>& segments,
                                           ElfKind kind = {}) {
  constexpr std::uint64_t kPage = 4096;
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = kind.type;
  eh.e_machine = kind.machine;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = static_cast<std::uint16_t>(segments.size());

  std::vector<std::uint8_t> file(kPage, 0);
  std::vector<Elf64_Phdr> phdrs;
  for (const SegmentSpec& s : segments) {
    Elf64_Phdr ph{};
    ph.p_type = s.type;
    ph.p_flags = s.flags;
    ph.p_vaddr = s.vaddr;
    ph.p_paddr = s.vaddr;
    ph.p_offset = file.size();
    ph.p_filesz = s.data.size();
    ph.p_memsz = s.memsz != 0 ? s.memsz : s.data.size();
    ph.p_align = kPage;
    file.insert(file.end(), s.data.begin(), s.data.end());
    file.resize((file.size() + kPage - 1) / kPage * kPage, 0);
    phdrs.push_back(ph);
  }
  std::memcpy(file.data(), &eh, sizeof eh);
  std::memcpy(file.data() + sizeof eh, phdrs.data(), phdrs.size() * sizeof(Elf64_Phdr));
  return file;
}

// What a test TCS holds (spec §4): entry and stack top as ELRANGE offsets.
struct TcsFields {
  std::uint64_t entry;
  std::uint64_t stack;
  std::uint64_t flags = 0;
};

// A TCS page's bytes.
inline std::vector<std::uint8_t> tcs_page(TcsFields f) {
  hix_tcs t{};
  t.flags = f.flags;
  t.entry = f.entry;
  t.stack = f.stack;
  std::vector<std::uint8_t> bytes(sizeof t);
  std::memcpy(bytes.data(), &t, sizeof t);
  return bytes;
}

inline constexpr std::uint64_t kTestBase = HIX_SDK_DEFAULT_BASE;

// The smallest valid image: TCS page, one code page, two data pages
// (one from the file, one bss); ELRANGE = 16 KiB.
inline std::vector<SegmentSpec> minimal_image() {
  return {
      {PT_LOAD, PF_R | PF_W, kTestBase, tcs_page({.entry = 0x1000, .stack = 0x4000}), 0},
      {HIX_SDK_PT_TCS, PF_R | PF_W, kTestBase, {}, 0x1000},
      {PT_LOAD, PF_R | PF_X, kTestBase + 0x1000, std::vector<std::uint8_t>(16, 0x90), 0},
      {PT_LOAD, PF_R | PF_W, kTestBase + 0x2000, {1, 2, 3, 4, 5, 6, 7, 8}, 0x2000},
  };
}

}  // namespace hix::test
