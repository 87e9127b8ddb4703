// libFuzzer target: command buffers (spec §6). The parser alone, then the
// same bytes through the ring in plain mode (validation and execution on
// the cpu backend). Byte 0, bit 0: repair the header (magic, version,
// length) so the fuzzer spends its time on the op records.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cmdbuf.hpp"
#include "fuzz_device.hpp"

using namespace hix::vgpu;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::Harness h;
  if (size < 1) return 0;
  const bool repair = (data[0] & 1) != 0;
  std::vector<std::byte> cmd;
  for (std::size_t i = 1; i < size; ++i) cmd.push_back(static_cast<std::byte>(data[i]));
  cmd.resize(std::min<std::size_t>(cmd.size() / 8 * 8, 0x8000));
  if (repair && cmd.size() >= sizeof(hix_vgpu_cmdbuf_header)) {
    hix_vgpu_cmdbuf_header hdr{};
    std::memcpy(&hdr, cmd.data(), sizeof hdr);
    hdr.magic = HIX_VGPU_CMDBUF_MAGIC;
    hdr.version = HIX_VGPU_CMDBUF_VERSION;
    hdr.flags = 0;
    hdr.total_len = static_cast<std::uint32_t>(cmd.size());
    std::memcpy(cmd.data(), &hdr, sizeof hdr);
  }
  (void)parse_cmdbuf(cmd);
  if (cmd.size() < HIX_VGPU_CMDBUF_MIN) return 0;
  h.guest_write(fuzz::kCmdGpa, cmd.data(), cmd.size());
  hix_vgpu_ring_entry e{};
  e.ctx = h.ctx;
  e.cmd_gpa = fuzz::kCmdGpa;
  e.cmd_len = static_cast<std::uint32_t>(cmd.size());
  e.fence = h.producer + 1;
  h.submit(e);
  return 0;
}
