// ELF image -> EADD page list (docs/enclave-sdk.md §5). The file is hostile
// input (the OS may substitute it): every field is range-checked before use,
// and every structure is copied out with memcpy, never cast in place.
#include "hix/loader/enclave_image.hpp"

#include <elf.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "hix_sdk/ecall_abi.h"

namespace hix::loader {

namespace {

constexpr std::uint64_t kPage = HIX_PAGE_SIZE;
constexpr std::uint64_t kMaxProgramHeaders = 64;
// Linear addresses of ELRANGE must be canonical lower-half (ECREATE, §2.1).
constexpr std::uint64_t kLowerHalfEnd = std::uint64_t{1} << 47;

struct Segment {
  std::uint64_t vaddr = 0;
  std::uint64_t memsz = 0;
  std::uint64_t offset = 0;
  std::uint64_t filesz = 0;
  std::uint64_t perms = 0;  // HIX_PAGE_R|W|X
  std::uint64_t first_page = 0;
  std::uint64_t end_page = 0;  // exclusive, page-aligned
};

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// a + b without wrapping; false when it would wrap.
bool add(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  return !__builtin_add_overflow(a, b, &out);
}

std::uint64_t elf_to_hix_perms(std::uint32_t p_flags) {
  std::uint64_t perms = 0;
  if ((p_flags & PF_R) != 0) perms |= HIX_PAGE_R;
  if ((p_flags & PF_W) != 0) perms |= HIX_PAGE_W;
  if ((p_flags & PF_X) != 0) perms |= HIX_PAGE_X;
  return perms;
}

Result<Elf64_Ehdr> check_header(std::span<const std::uint8_t> elf) {
  Elf64_Ehdr eh;
  if (elf.size() < sizeof eh) return {Status::not_elf64_x86_64, "file shorter than an ELF header"};
  std::memcpy(&eh, elf.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_ident[EI_VERSION] != EV_CURRENT ||
      eh.e_machine != EM_X86_64 || eh.e_version != EV_CURRENT) {
    return {Status::not_elf64_x86_64, "not a little-endian ELF64 x86-64 file"};
  }
  if (eh.e_type != ET_EXEC) {
    return {Status::not_static_executable, "not ET_EXEC (a fixed-address executable)"};
  }
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > kMaxProgramHeaders) {
    return {Status::bad_program_headers, "bad program header size or count"};
  }
  std::uint64_t end = 0;
  if (!add(eh.e_phoff, std::uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr), end) || end > elf.size()) {
    return {Status::bad_program_headers, "program headers lie outside the file"};
  }
  return eh;
}

Result<Segment> check_load_segment(const Elf64_Phdr& ph, std::size_t file_size) {
  Segment s;
  s.vaddr = ph.p_vaddr;
  s.memsz = ph.p_memsz;
  s.offset = ph.p_offset;
  s.filesz = ph.p_filesz;
  const std::string where = "PT_LOAD at " + hex(ph.p_vaddr);
  if (s.memsz == 0 || s.filesz > s.memsz) return {Status::bad_segment, where + ": bad sizes"};
  if (s.vaddr % kPage != 0) return {Status::bad_segment, where + ": not page-aligned"};
  std::uint64_t file_end = 0;
  if (!add(s.offset, s.filesz, file_end) || file_end > file_size) {
    return {Status::bad_segment, where + ": contents lie outside the file"};
  }
  std::uint64_t mem_end = 0;
  if (!add(s.vaddr, s.memsz, mem_end) || !add(mem_end, kPage - 1, mem_end)) {
    return {Status::bad_segment, where + ": wraps"};
  }
  if ((ph.p_flags & ~std::uint32_t{PF_R | PF_W | PF_X}) != 0 || (ph.p_flags & PF_R) == 0) {
    return {Status::bad_segment, where + ": flags must be R with optional W or X"};
  }
  if ((ph.p_flags & PF_W) != 0 && (ph.p_flags & PF_X) != 0) {
    return {Status::writable_and_executable, where + ": writable and executable"};
  }
  s.perms = elf_to_hix_perms(ph.p_flags);
  s.first_page = s.vaddr;
  s.end_page = mem_end & ~(kPage - 1);
  return s;
}

// The TCS checks of spec §4, applied to the page as it will be added.
Outcome check_tcs(const EnclaveImage& image, const Page& tcs_page) {
  hix_tcs tcs;
  static_assert(sizeof tcs == HIX_PAGE_SIZE);
  std::memcpy(&tcs, tcs_page.contents.data(), sizeof tcs);
  const std::string where = "TCS at offset " + hex(tcs_page.offset.value);
  if (tcs.flags != 0) return {Status::bad_tcs, where + ": flags must be 0"};
  if (tcs.stack % 16 != 0 || tcs.stack == 0 || tcs.stack > image.size) {
    return {Status::bad_tcs, where + ": stack must be 16-byte aligned and inside ELRANGE"};
  }
  const std::uint64_t entry_page = tcs.entry & ~(kPage - 1);
  const auto it = std::find_if(image.pages.begin(), image.pages.end(),
                               [&](const Page& p) { return p.offset.value == entry_page; });
  if (tcs.entry >= image.size || it == image.pages.end() || (it->flags & HIX_PAGE_X) == 0) {
    return {Status::bad_tcs, where + ": entry must lie in an executable page"};
  }
  return {};
}

}  // namespace

Result<EnclaveImage> parse_enclave_image(std::span<const std::uint8_t> elf) {
  auto header = check_header(elf);
  if (!header.ok()) return {header.status(), header.detail()};
  const Elf64_Ehdr& eh = header.value();

  std::vector<Segment> segments;
  std::vector<Elf64_Phdr> tcs_headers;
  for (std::uint64_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, elf.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    switch (ph.p_type) {
      case PT_LOAD: {
        auto seg = check_load_segment(ph, elf.size());
        if (!seg.ok()) return {seg.status(), seg.detail()};
        segments.push_back(seg.value());
        break;
      }
      case HIX_SDK_PT_TCS:
        tcs_headers.push_back(ph);
        break;
      case PT_INTERP:
      case PT_DYNAMIC:
      case PT_TLS:
        return {Status::not_static_executable, "dynamic linking or TLS program header"};
      default:
        break;  // PT_NOTE, PT_GNU_STACK, ...: nothing to load
    }
  }
  if (segments.empty()) return {Status::bad_program_headers, "no PT_LOAD segment"};
  std::sort(segments.begin(), segments.end(),
            [](const Segment& a, const Segment& b) { return a.vaddr < b.vaddr; });
  for (std::size_t i = 1; i < segments.size(); ++i) {
    // Page granularity: two segments sharing a page would need two sets of
    // EPCM permissions for it.
    if (segments[i].first_page < segments[i - 1].end_page) {
      return {Status::segment_overlap, "segments at " + hex(segments[i - 1].vaddr) + " and " +
                                           hex(segments[i].vaddr) + " share a page"};
    }
  }

  EnclaveImage image;
  image.base = LinearAddress{segments.front().first_page};
  const std::uint64_t span = segments.back().end_page - image.base.value;
  if (span / kPage > kMaxImagePages) return {Status::image_too_large, "more than 262144 pages"};
  image.size = kPage;
  while (image.size < span) image.size <<= 1;
  if (image.base.value == 0 || image.base.value % image.size != 0 ||
      image.base.value + image.size > kLowerHalfEnd) {
    return {Status::bad_layout, "ELRANGE [" + hex(image.base.value) + ", +" + hex(image.size) +
                                    ") is not size-aligned in the lower canonical half"};
  }

  for (const Segment& seg : segments) {
    for (std::uint64_t page = seg.first_page; page < seg.end_page; page += kPage) {
      Page p;
      p.offset = ElrangeOffset{page - image.base.value};
      p.flags = seg.perms | HIX_PAGE_TYPE_REG;
      // The part of [page, page + 4096) that the file supplies; the rest of
      // memsz is zero (bss, heap, stack).
      const std::uint64_t file_lo = std::max(page, seg.vaddr);
      const std::uint64_t file_hi = std::min(page + kPage, seg.vaddr + seg.filesz);
      if (file_lo < file_hi) {
        std::memcpy(p.contents.data() + (file_lo - page),
                    elf.data() + seg.offset + (file_lo - seg.vaddr), file_hi - file_lo);
      }
      image.pages.push_back(p);
    }
  }

  for (const Elf64_Phdr& ph : tcs_headers) {
    std::uint64_t end = 0;
    if (ph.p_vaddr % kPage != 0 || ph.p_memsz == 0 || ph.p_memsz % kPage != 0 ||
        !add(ph.p_vaddr, ph.p_memsz, end)) {
      return {Status::bad_tcs, "TCS program header is not whole pages"};
    }
    for (std::uint64_t page = ph.p_vaddr; page < end; page += kPage) {
      const auto it = std::find_if(image.pages.begin(), image.pages.end(), [&](const Page& p) {
        return image.linear(p.offset).value == page;
      });
      if (it == image.pages.end())
        return {Status::bad_tcs, "TCS page " + hex(page) + " not loaded"};
      if ((it->flags & HIX_PAGE_PERM_MASK) != (HIX_PAGE_R | HIX_PAGE_W)) {
        return {Status::bad_tcs, "TCS page " + hex(page) + " must be exactly RW"};
      }
      if ((it->flags & HIX_PAGE_TYPE_MASK) == HIX_PAGE_TYPE_TCS) {
        return {Status::bad_tcs, "TCS page " + hex(page) + " named twice"};
      }
      it->flags = HIX_PAGE_R | HIX_PAGE_W | HIX_PAGE_TYPE_TCS;
      image.tcs_offsets.push_back(it->offset);
    }
  }
  if (image.tcs_offsets.empty()) return {Status::no_tcs, "no HIX_SDK_PT_TCS program header"};
  std::sort(image.tcs_offsets.begin(), image.tcs_offsets.end(),
            [](ElrangeOffset a, ElrangeOffset b) { return a.value < b.value; });
  for (const ElrangeOffset o : image.tcs_offsets) {
    const auto it = std::find_if(image.pages.begin(), image.pages.end(),
                                 [&](const Page& p) { return p.offset == o; });
    const Outcome tcs_ok = check_tcs(image, *it);
    if (!tcs_ok.ok()) return {tcs_ok.status, tcs_ok.detail};
  }
  return image;
}

Result<std::vector<std::uint8_t>> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {Status::io_error, path + ": cannot open"};
  const std::streamoff size = in.tellg();
  if (size < 0) return {Status::io_error, path + ": cannot size"};
  if (static_cast<std::uint64_t>(size) > kMaxImageFileBytes) {
    return {Status::image_too_large, path + ": larger than 256 MiB"};
  }
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  // reinterpret_cast: istream reads chars; the bytes are the same storage.
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    return {Status::io_error, path + ": read failed"};
  }
  return bytes;
}

Result<EnclaveImage> load_enclave_image(const std::string& path) {
  auto bytes = read_file(path);
  if (!bytes.ok()) return {bytes.status(), bytes.detail()};
  auto image = parse_enclave_image(bytes.value());
  if (!image.ok()) return {image.status(), path + ": " + image.detail()};
  return image;
}

std::string describe_flags(std::uint64_t flags) {
  std::string s;
  if ((flags & HIX_PAGE_R) != 0) s += 'R';
  if ((flags & HIX_PAGE_W) != 0) s += 'W';
  if ((flags & HIX_PAGE_X) != 0) s += 'X';
  if ((flags & HIX_PAGE_TYPE_MASK) == HIX_PAGE_TYPE_TCS) s += "+TCS";
  return s.empty() ? "-" : s;
}

}  // namespace hix::loader
