// ELF symbol table and address lookup (System V gABI, "Symbol Table").
#include "hix/loader/elf_symbols.hpp"

#include <elf.h>

#include <cstring>

namespace hix::loader {

namespace {

template <class T>
bool read_at(std::span<const std::uint8_t> elf, std::uint64_t offset, T& out) {
  if (offset > elf.size() || elf.size() - offset < sizeof(T)) return false;
  std::memcpy(&out, elf.data() + offset, sizeof(T));
  return true;
}

bool valid_header(std::span<const std::uint8_t> elf, Elf64_Ehdr& eh) {
  return read_at(elf, 0, eh) && std::memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
         eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_ident[EI_DATA] == ELFDATA2LSB;
}

}  // namespace

Result<std::vector<ElfSymbol>> read_symbols(std::span<const std::uint8_t> elf) {
  Elf64_Ehdr eh;
  if (!valid_header(elf, eh)) return {Status::not_elf64_x86_64, "not an ELF64 file"};
  if (eh.e_shentsize != sizeof(Elf64_Shdr)) return {Status::bad_program_headers, "bad e_shentsize"};
  std::vector<ElfSymbol> out;
  for (std::uint64_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr sh;
    if (!read_at(elf, eh.e_shoff + i * sizeof sh, sh)) {
      return {Status::bad_program_headers, "section header outside the file"};
    }
    if (sh.sh_type != SHT_SYMTAB) continue;
    Elf64_Shdr strtab;
    if (sh.sh_link >= eh.e_shnum ||
        !read_at(elf, eh.e_shoff + std::uint64_t{sh.sh_link} * sizeof strtab, strtab) ||
        strtab.sh_offset > elf.size() || elf.size() - strtab.sh_offset < strtab.sh_size) {
      return {Status::bad_program_headers, "bad string table"};
    }
    if (sh.sh_entsize != sizeof(Elf64_Sym)) return {Status::bad_program_headers, "bad sh_entsize"};
    for (std::uint64_t j = 1; j < sh.sh_size / sizeof(Elf64_Sym); ++j) {
      Elf64_Sym sym;
      if (!read_at(elf, sh.sh_offset + j * sizeof sym, sym)) {
        return {Status::bad_program_headers, "symbol outside the file"};
      }
      if (sym.st_name >= strtab.sh_size) return {Status::bad_program_headers, "bad symbol name"};
      // reinterpret_cast: ELF string tables are bytes holding NUL-terminated names.
      const char* name = reinterpret_cast<const char*>(elf.data() + strtab.sh_offset + sym.st_name);
      ElfSymbol s;
      s.name.assign(name, strnlen(name, strtab.sh_size - sym.st_name));
      s.value = sym.st_value;
      s.size = sym.st_size;
      s.section = sym.st_shndx;
      s.binding = static_cast<std::uint8_t>(ELF64_ST_BIND(sym.st_info));
      s.type = static_cast<std::uint8_t>(ELF64_ST_TYPE(sym.st_info));
      out.push_back(std::move(s));
    }
  }
  return out;
}

Result<std::uint64_t> file_offset_of(std::span<const std::uint8_t> elf, std::uint64_t vaddr) {
  Elf64_Ehdr eh;
  if (!valid_header(elf, eh)) return {Status::not_elf64_x86_64, "not an ELF64 file"};
  for (std::uint64_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    if (!read_at(elf, eh.e_phoff + i * sizeof ph, ph)) {
      return {Status::bad_program_headers, "program header outside the file"};
    }
    if (ph.p_type != PT_LOAD || vaddr < ph.p_vaddr || vaddr - ph.p_vaddr >= ph.p_filesz) continue;
    const std::uint64_t offset = ph.p_offset + (vaddr - ph.p_vaddr);
    if (offset >= elf.size()) return {Status::bad_segment, "segment lies outside the file"};
    return offset;
  }
  return {Status::bad_segment, "no PT_LOAD file contents at that address"};
}

}  // namespace hix::loader
