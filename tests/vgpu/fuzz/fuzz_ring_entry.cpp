// libFuzzer target: ring entries (spec §5). Byte 0 picks the mode:
//   0: plain mode;
//   1: protected mode, the entry as given (forgeries, malformed fields);
//   2: protected mode, the entry sealed by the harness with the channel key
//      (what a buggy enclave could send: sequence checks, command buffers).
// Bit 7 points the entry at the command buffer; bit 6 gives it the expected
// sequence number.
// Then 64 bytes of entry and the command buffer, placed in guest memory.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_device.hpp"
#include "ring_auth.hpp"

using namespace hix::vgpu;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::Harness h;
  if (size < 1 + sizeof(hix_vgpu_ring_entry)) return 0;
  const std::uint8_t mode = data[0] % 3;
  hix_vgpu_ring_entry e{};
  std::memcpy(&e, data + 1, sizeof e);
  const std::size_t cmd_len = std::min<std::size_t>(size - 1 - sizeof e, 0x8000);
  std::vector<std::byte> cmd;
  for (std::size_t i = 0; i < cmd_len; ++i)
    cmd.push_back(static_cast<std::byte>(data[1 + sizeof e + i]));
  if ((data[0] & 0x80) != 0) {  // point the entry at the command buffer
    e.cmd_gpa = fuzz::kCmdGpa;
    e.cmd_len = static_cast<std::uint32_t>(cmd.size());
    e.ctx = h.ctx;
  }
  if (mode == 0) {
    h.admin(HIX_GPU_CMD_CHANNEL_KEY_CLEAR);
  } else if (h.dev->read32(hix::gpu::Reg32::ring_seq) == 1 ||
             (h.dev->read32(hix::gpu::Reg32::status) & hix::gpu::status::protected_mode) == 0) {
    h.set_key_window(7);
    h.admin(HIX_GPU_CMD_CHANNEL_KEY_INSTALL);
  }
  if ((data[0] & 0x40) != 0) e.seq = h.dev->read32(hix::gpu::Reg32::ring_seq);
  if (mode == 2) {
    seal_ring_entry(e, cmd, fuzz::Harness::key(7));
  }
  if (!cmd.empty()) h.guest_write(fuzz::kCmdGpa, cmd.data(), cmd.size());
  h.submit(e);
  return 0;
}
