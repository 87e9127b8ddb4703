// ELF image -> page list (docs/enclave-sdk.md §1, §5): synthetic images for
// every rule, and the real hello enclave's layout.
#include <elf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "elf_builder.hpp"
#include "hix/loader/elf_symbols.hpp"
#include "hix/loader/enclave_image.hpp"
#include "hix/loader/measurement.hpp"

namespace hix::loader {
namespace {

using test::build_elf;
using test::kTestBase;
using test::minimal_image;
using test::SegmentSpec;
using test::tcs_page;

constexpr std::uint64_t kPage = HIX_PAGE_SIZE;

Result<EnclaveImage> parse(const std::vector<SegmentSpec>& segments, std::uint16_t type = ET_EXEC) {
  const std::vector<std::uint8_t> elf = build_elf(segments, {.type = type});
  return parse_enclave_image(elf);
}

TEST(EnclaveImageTest, MinimalImagePageList) {
  const auto r = parse(minimal_image());
  ASSERT_TRUE(r.ok()) << r.detail();
  const EnclaveImage& img = r.value();
  EXPECT_EQ(img.base.value, kTestBase);
  EXPECT_EQ(img.size, 0x4000u);
  ASSERT_EQ(img.pages.size(), 4u);
  EXPECT_EQ(img.pages[0].offset.value, 0u);
  EXPECT_EQ(img.pages[0].flags, HIX_PAGE_R | HIX_PAGE_W | HIX_PAGE_TYPE_TCS);
  EXPECT_EQ(img.pages[1].offset.value, 0x1000u);
  EXPECT_EQ(img.pages[1].flags, HIX_PAGE_R | HIX_PAGE_X);
  EXPECT_EQ(img.pages[1].contents[15], 0x90);
  EXPECT_EQ(img.pages[1].contents[16], 0) << "past filesz is zero";
  EXPECT_EQ(img.pages[2].flags, HIX_PAGE_R | HIX_PAGE_W);
  EXPECT_EQ(img.pages[2].contents[7], 8);
  EXPECT_EQ(img.pages[3].offset.value, 0x3000u);
  EXPECT_TRUE(std::all_of(img.pages[3].contents.begin(), img.pages[3].contents.end(),
                          [](std::uint8_t b) { return b == 0; }))
      << "bss page";
  ASSERT_EQ(img.tcs_offsets.size(), 1u);
  EXPECT_EQ(img.tcs_offsets[0].value, 0u);
}

TEST(EnclaveImageTest, ElrangeIsTheNextPowerOfTwo) {
  auto segs = minimal_image();
  segs[3].memsz = 0x3000;  // image spans 5 pages -> 32 KiB
  const auto r = parse(segs);
  ASSERT_TRUE(r.ok()) << r.detail();
  EXPECT_EQ(r->size, 0x8000u);
  EXPECT_EQ(r->pages.size(), 5u);
}

struct Rejection {
  const char* name;
  Status expected;
  std::vector<SegmentSpec> segments;
  std::uint16_t type = ET_EXEC;
};

std::vector<Rejection> rejections() {
  std::vector<Rejection> out;
  auto add = [&](const char* name, Status s, auto mutate, std::uint16_t type = ET_EXEC) {
    auto segs = minimal_image();
    mutate(segs);
    out.push_back({name, s, segs, type});
  };
  add(
      "shared object", Status::not_static_executable, [](auto&) {}, ET_DYN);
  add("writable and executable", Status::writable_and_executable,
      [](auto& s) { s[2].flags = PF_R | PF_W | PF_X; });
  add("not readable", Status::bad_segment, [](auto& s) { s[2].flags = PF_X; });
  add("unaligned vaddr", Status::bad_segment, [](auto& s) { s[3].vaddr += 8; });
  add("filesz > memsz", Status::bad_segment, [](auto& s) { s[3].memsz = 4; });
  add("segments share a page", Status::segment_overlap,
      [](auto& s) { s[3].vaddr = kTestBase + 0x1000; });
  add("no TCS header", Status::no_tcs, [](auto& s) { s.erase(s.begin() + 1); });
  add("TCS page executable", Status::bad_tcs, [](auto& s) { s[1].vaddr = kTestBase + 0x1000; });
  add("TCS page not loaded", Status::bad_tcs, [](auto& s) { s[1].vaddr = kTestBase + 0x8000; });
  add("TCS flags", Status::bad_tcs,
      [](auto& s) { s[0].data = tcs_page({.entry = 0x1000, .stack = 0x4000, .flags = 1}); });
  add("TCS entry not executable", Status::bad_tcs,
      [](auto& s) { s[0].data = tcs_page({.entry = 0x2000, .stack = 0x4000}); });
  add("TCS entry outside", Status::bad_tcs,
      [](auto& s) { s[0].data = tcs_page({.entry = 0x9000, .stack = 0x4000}); });
  add("TCS stack unaligned", Status::bad_tcs,
      [](auto& s) { s[0].data = tcs_page({.entry = 0x1000, .stack = 0x3ff8 + 4}); });
  add("TCS stack outside", Status::bad_tcs,
      [](auto& s) { s[0].data = tcs_page({.entry = 0x1000, .stack = 0x5000}); });
  add("base not size-aligned", Status::bad_layout, [](auto& s) {
    for (auto& seg : s) seg.vaddr += 0x1000;
  });
  add("upper half", Status::bad_layout, [](auto& s) {
    for (auto& seg : s) seg.vaddr += 0xffff800000000000 - kTestBase;
  });
  add("interpreter", Status::not_static_executable, [](auto& s) {
    s.push_back({PT_INTERP, PF_R, 0, {'/', 0}, 0});
  });
  add("TLS", Status::not_static_executable, [](auto& s) {
    s.push_back({PT_TLS, PF_R, kTestBase + 0x2000, {}, 8});
  });
  return out;
}

TEST(EnclaveImageTest, RejectsEveryMalformedImage) {
  for (const Rejection& c : rejections()) {
    const auto r = parse(c.segments, c.type);
    EXPECT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status(), c.expected)
        << c.name << ": got " << to_string(r.status()) << " (" << r.detail() << ")";
  }
}

TEST(EnclaveImageTest, RejectsTruncatedAndForeignFiles) {
  std::vector<std::uint8_t> elf = build_elf(minimal_image());
  EXPECT_EQ(parse_enclave_image(std::span(elf).first(40)).status(), Status::not_elf64_x86_64);
  EXPECT_EQ(parse_enclave_image(std::span(elf).first(100)).status(), Status::bad_program_headers);
  // The last segment's contents cut off.
  EXPECT_EQ(parse_enclave_image(std::span(elf).first(elf.size() - kPage)).status(),
            Status::bad_segment);
  const auto arm = build_elf(minimal_image(), {.type = ET_EXEC, .machine = EM_AARCH64});
  EXPECT_EQ(parse_enclave_image(arm).status(), Status::not_elf64_x86_64);
  elf[0] = 0;
  EXPECT_EQ(parse_enclave_image(elf).status(), Status::not_elf64_x86_64);
}

// --- the hello enclave as built -------------------------------------------------

std::string enclave_path(const char* name) {
  return std::string(HIX_ENCLAVE_DIR) + "/" + name + ".elf";
}

TEST(HelloImageTest, LayoutFollowsTheLinkerScript) {
  const auto bytes = read_file(enclave_path("hello"));
  ASSERT_TRUE(bytes.ok()) << bytes.detail();
  const auto r = parse_enclave_image(bytes.value());
  ASSERT_TRUE(r.ok()) << r.detail();
  const EnclaveImage& img = r.value();
  EXPECT_EQ(img.base.value, HIX_SDK_DEFAULT_BASE);
  EXPECT_EQ(img.size & (img.size - 1), 0u) << "power of two";
  EXPECT_EQ(img.base.value % img.size, 0u);

  // One TCS, first page, pointing at the ELF entry point and the stack top.
  ASSERT_EQ(img.tcs_offsets.size(), 1u);
  EXPECT_EQ(img.tcs_offsets[0].value, 0u);
  hix_tcs tcs;
  std::memcpy(&tcs, img.pages[0].contents.data(), sizeof tcs);
  Elf64_Ehdr eh;
  std::memcpy(&eh, bytes->data(), sizeof eh);
  EXPECT_EQ(img.base.value + tcs.entry, eh.e_entry);
  EXPECT_EQ(tcs.flags, 0u);
  EXPECT_EQ(tcs.stack, img.pages.back().offset.value + kPage) << "stack top = end of image";

  // Every page of every PT_LOAD is in the list, once, in order.
  std::uint64_t loadable_pages = 0;
  std::set<std::uint64_t> expected_offsets;
  for (std::uint16_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, bytes->data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type != PT_LOAD) continue;
    for (std::uint64_t a = ph.p_vaddr; a < ph.p_vaddr + ph.p_memsz; a += kPage) {
      expected_offsets.insert(a - img.base.value);
      ++loadable_pages;
    }
  }
  ASSERT_EQ(img.pages.size(), loadable_pages);
  std::uint64_t previous = 0;
  for (std::size_t i = 0; i < img.pages.size(); ++i) {
    EXPECT_EQ(expected_offsets.count(img.pages[i].offset.value), 1u);
    if (i > 0) {
      EXPECT_GT(img.pages[i].offset.value, previous);
    }
    previous = img.pages[i].offset.value;
  }

  // Permissions: code RX only, no page both writable and executable, the
  // guard page below the stack absent.
  std::size_t executable = 0;
  for (const Page& p : img.pages) {
    EXPECT_FALSE((p.flags & HIX_PAGE_W) != 0 && (p.flags & HIX_PAGE_X) != 0)
        << "W+X page at +" << p.offset.value;
    EXPECT_NE(p.flags & HIX_PAGE_R, 0u);
    if ((p.flags & HIX_PAGE_X) != 0) ++executable;
  }
  EXPECT_GT(executable, 0u);
  const std::uint64_t stack_bottom = tcs.stack - 0x10000;  // the SDK's default stack
  EXPECT_EQ(expected_offsets.count(stack_bottom - kPage), 0u) << "guard page is not added";
  EXPECT_EQ(expected_offsets.count(stack_bottom), 1u);
}

TEST(HelloImageTest, HasNoUndefinedSymbols) {
  const auto bytes = read_file(enclave_path("hello"));
  ASSERT_TRUE(bytes.ok()) << bytes.detail();
  const auto symbols = read_symbols(bytes.value());
  ASSERT_TRUE(symbols.ok()) << symbols.detail();
  ASSERT_GT(symbols->size(), 100u) << "the image keeps its symbol table";
  bool has_entry = false;
  bool has_tag = false;
  for (const ElfSymbol& s : symbols.value()) {
    // FILE symbols legitimately have no section.
    if (s.type != STT_FILE) {
      EXPECT_NE(s.section, SHN_UNDEF) << "undefined: " << s.name;
    }
    has_entry = has_entry || s.name == "hix_sdk_entry";
    has_tag = has_tag || s.name == HIX_SDK_IMAGE_TAG_SYMBOL;
    // Nothing from a hosted libc or the dynamic linker may be linked in.
    EXPECT_NE(s.name, "__libc_start_main");
    EXPECT_NE(s.name, "_dl_relocate_static_pie");
    EXPECT_NE(s.name, "syscall");
  }
  EXPECT_TRUE(has_entry);
  EXPECT_TRUE(has_tag);
}

TEST(HelloImageTest, TamperedCopyDiffersInOneByteAndMeasuresDifferently) {
  const auto a = read_file(enclave_path("hello"));
  const auto b = read_file(enclave_path("hello-tampered"));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), b->size());
  std::size_t differing = 0;
  for (std::size_t i = 0; i < a->size(); ++i) {
    if (a.value()[i] != b.value()[i]) ++differing;
  }
  EXPECT_EQ(differing, 1u);
  const auto ia = parse_enclave_image(a.value());
  const auto ib = parse_enclave_image(b.value());
  ASSERT_TRUE(ia.ok() && ib.ok());
  ASSERT_GE(sodium_init(), 0);
  EXPECT_NE(measure_image(ia.value()), measure_image(ib.value()));
}

}  // namespace
}  // namespace hix::loader
