// libFuzzer target: BAR0 register accesses (spec §2, §4) and the frontend's
// pushes. The input is a sequence of 12-byte records:
//   u8 kind, u8 width, u16 offset, u32 value, u32 aux
// kind % 8: 0-3 write, 4 read, 5 guest-memory store (value at RAM + aux),
// 6 lock state (value & 1, owner aux), 7 reset.
#include <cstddef>
#include <cstdint>

#include "fuzz_device.hpp"

using namespace hix::vgpu;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::Harness h;
  for (std::size_t i = 0; i + 12 <= size; i += 12) {
    const std::uint8_t kind = data[i] % 8;
    const unsigned width = data[i + 1] % 9;
    std::uint16_t off = 0;
    std::memcpy(&off, data + i + 2, 2);
    const std::uint32_t value = fuzz::w32(data + i + 4);
    const std::uint32_t aux = fuzz::w32(data + i + 8);
    // Mostly real registers: fold the offset into the first 256 bytes.
    const std::uint64_t offset = (data[i + 1] & 0x80) != 0 ? off : off % 0x100;
    switch (kind) {
      case 4:
        (void)h.dev->mmio_read(offset, width);
        break;
      case 5:
        h.guest_write(fuzz::kRamBase + (aux % (fuzz::kRamSize - 4)), &value, 4);
        break;
      case 6:
        h.dev->set_lock((value & 1) != 0, aux);
        break;
      case 7:
        h.dev->reset();
        break;
      default:
        h.dev->mmio_write(offset, width, value);
        break;
    }
  }
  // Keep the device usable for the next input.
  if (h.dev->live_contexts() == 0) h.setup();
  return 0;
}
