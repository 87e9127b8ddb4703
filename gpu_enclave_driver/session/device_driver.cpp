// The hix-gpu driver of the session core (docs/specs/hix-gpu.md §2, §4, §5).
#include "hix/session/device_driver.hpp"

#include <sodium.h>

#include <cstring>

namespace hix::session {
namespace {

using gpu::Reg32;

constexpr std::array<Reg32, 8> kKeyWindow{Reg32::key0, Reg32::key1, Reg32::key2, Reg32::key3,
                                          Reg32::key4, Reg32::key5, Reg32::key6, Reg32::key7};
constexpr std::uint64_t kCmdAlign = 4096;  // the command buffer starts on a page of the area

static_assert(sizeof(hix_vgpu_ring_entry) == HIX_VGPU_RING_ENTRY_BYTES);
static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == HIX_VGPU_RING_TAG_BYTES);
static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == kChannelKeyBytes);

// Spec hix-gpu §5.2: nonce = "HXRG" || seq (u64 LE).
std::array<std::uint8_t, crypto_aead_chacha20poly1305_ietf_NPUBBYTES> ring_nonce(
    std::uint64_t seq) {
  std::array<std::uint8_t, crypto_aead_chacha20poly1305_ietf_NPUBBYTES> n{};
  std::memcpy(n.data(), HIX_VGPU_RING_NONCE_PREFIX, 4);
  std::memcpy(n.data() + 4, &seq, sizeof seq);
  return n;
}

bool power_of_two(std::uint32_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

}  // namespace

DeviceDriver::~DeviceDriver() {
  sodium_memzero(channel_key_.data(), channel_key_.size());
}

AdminResult DeviceDriver::admin(std::uint32_t cmd, std::uint32_t a0, std::uint32_t a1,
                                std::uint32_t a2, std::uint32_t a3) {
  mmio_.write32(Reg32::arg0, a0);
  mmio_.write32(Reg32::arg1, a1);
  mmio_.write32(Reg32::arg2, a2);
  mmio_.write32(Reg32::arg3, a3);
  mmio_.write32(Reg32::cmd, cmd);
  // The device runs the command before it answers the next access (§4).
  AdminResult r;
  r.status = mmio_.read32(Reg32::cmd_status);
  r.r0 = mmio_.read32(Reg32::result0);
  r.r1 = mmio_.read32(Reg32::result1);
  return r;
}

AdminResult DeviceDriver::admin_with_key(std::uint32_t cmd,
                                         std::span<const std::uint8_t, kChannelKeyBytes> key,
                                         std::uint32_t a0, std::uint32_t a1) {
  for (std::size_t i = 0; i < kKeyWindow.size(); ++i) {
    std::uint32_t word = 0;
    std::memcpy(&word, key.data() + 4 * i, sizeof word);
    mmio_.write32(kKeyWindow[i], word);
    sodium_memzero(&word, sizeof word);
  }
  return admin(cmd, a0, a1);  // the device wipes its key window after every command
}

AdminResult DeviceDriver::install_channel_key() {
  // Once a channel key was asked for, the driver stays protected: if a key
  // cannot be installed it submits nothing rather than plaintext.
  protected_ = true;
  channel_ready_ = false;
  platform_.random(channel_key_);
  const AdminResult r = admin_with_key(HIX_GPU_CMD_CHANNEL_KEY_INSTALL, channel_key_);
  if (!r.ok()) {
    sodium_memzero(channel_key_.data(), channel_key_.size());
    return r;
  }
  channel_ready_ = true;
  next_seq_ = 1;  // bound to this key: the device expects 1 again
  return r;
}

AdminResult DeviceDriver::start_ring(const Area& area, std::uint32_t entries) {
  const std::uint64_t ring_bytes = std::uint64_t{entries} * HIX_VGPU_RING_ENTRY_BYTES;
  const std::uint64_t cmd_at = (ring_bytes + kCmdAlign - 1) / kCmdAlign * kCmdAlign;
  if (!power_of_two(entries) || entries > HIX_GPU_RING_MAX_ENTRIES ||
      area.gpa.value % HIX_VGPU_RING_ALIGN != 0 || !valid_range(area.gpa.value, area.bytes) ||
      area.bytes < cmd_at + HIX_VGPU_CMDBUF_MIN || !memory_.accepts(area.linear, area.bytes)) {
    return AdminResult{HIX_VGPU_INVALID_ARG, 0, 0};
  }
  mmio_.write32(Reg32::ring_base_lo, static_cast<std::uint32_t>(area.gpa.value));
  mmio_.write32(Reg32::ring_base_hi, static_cast<std::uint32_t>(area.gpa.value >> 32));
  mmio_.write32(Reg32::ring_size, entries);
  const AdminResult r = admin(HIX_GPU_CMD_RING_START);
  if (!r.ok()) return r;
  ring_ = area;
  entries_ = entries;
  producer_ = 0;  // RING_START: RING_HEAD = producer = 0
  cmd_area_ = Area{Linear{area.linear.value + cmd_at}, GuestPhys{area.gpa.value + cmd_at},
                   area.bytes - cmd_at};
  cmd_room_ = cmd_area_.bytes > HIX_VGPU_CMDBUF_MAX ? HIX_VGPU_CMDBUF_MAX : cmd_area_.bytes;
  return r;
}

SubmitOutcome DeviceDriver::submit(std::uint32_t ctx, std::span<std::uint8_t> cmdbuf) {
  SubmitOutcome out;
  if (entries_ == 0 || (protected_ && !channel_ready_)) {
    out.kind = SubmitOutcome::Kind::unavailable;
    out.device_status = HIX_VGPU_RING_STOPPED;
    return out;
  }
  if (cmdbuf.size() > cmd_room_ || cmdbuf.size() < HIX_VGPU_CMDBUF_MIN) {
    out.kind = SubmitOutcome::Kind::no_room;
    return out;
  }
  if (++last_fence_ == 0) last_fence_ = 1;  // 0 is FENCE's reset value
  out.fence = last_fence_;

  hix_vgpu_ring_entry e{};
  e.ctx = ctx;
  e.cmd_gpa = cmd_area_.gpa.value;
  e.cmd_len = static_cast<std::uint32_t>(cmdbuf.size());
  e.fence = out.fence;
  if (protected_) {
    // §5.2: the entry's first 48 bytes are the associated data, the command
    // buffer the ciphertext. A sequence number is used once, whatever
    // happens to the entry: a nonce never repeats under the channel key.
    e.seq = next_seq_++;
    const auto nonce = ring_nonce(e.seq);
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(
        cmdbuf.data(), e.tag, nullptr, cmdbuf.data(), cmdbuf.size(),
        // reinterpret_cast: the entry's first 48 bytes are the associated data.
        reinterpret_cast<const std::uint8_t*>(&e), HIX_VGPU_RING_AAD_BYTES, nullptr, nonce.data(),
        channel_key_.data());
  }
  // Ciphertext (or plain mode's plaintext) and the entry go out from
  // enclave memory in one copy each; nothing is read back.
  memory_.write(cmd_area_.linear, cmdbuf);
  const std::uint64_t slot = std::uint64_t{producer_ % entries_} * HIX_VGPU_RING_ENTRY_BYTES;
  // reinterpret_cast: the entry goes out as its wire bytes.
  memory_.write(Linear{ring_.linear.value + slot},
                std::span(reinterpret_cast<const std::uint8_t*>(&e), sizeof e));

  const std::uint32_t errors_before = mmio_.read32(Reg32::exec_errors);
  ++producer_;
  mmio_.write32(Reg32::doorbell, producer_);

  // Wait until the device consumed the entry (STATUS.BUSY clear): it then
  // has run it or rejected it. The device server runs an entry before it
  // answers the next read, so this normally takes one read.
  bool consumed = false;
  for (std::uint64_t polls = 0; polls < poll_budget_; ++polls) {
    const std::uint32_t st = mmio_.read32(Reg32::status);
    if ((st & gpu::status::ready) == 0 || (st & gpu::status::error) != 0 ||
        (st & gpu::status::ring) == 0) {
      break;  // the device is gone, was reset or lost its ring
    }
    if ((st & gpu::status::busy) == 0) {
      consumed = mmio_.read32(Reg32::ring_head) == producer_;
      break;
    }
  }
  if (!consumed) {
    out.kind = SubmitOutcome::Kind::unavailable;
    out.device_status = HIX_VGPU_UNAVAILABLE;
    return out;
  }
  if (mmio_.read32(Reg32::fence) != out.fence) {
    // Consumed without completing: the ring refused the entry (hixd changed
    // the entry or the ciphertext in untrusted memory). In protected mode the
    // device still expects the sequence number we used, which must not be
    // used again: a fresh channel key restarts the sequence at 1.
    out.kind = SubmitOutcome::Kind::rejected;
    out.device_status = HIX_VGPU_AUTH_FAILED;
    if (protected_) static_cast<void>(install_channel_key());
    return out;
  }
  if (mmio_.read32(Reg32::exec_errors) != errors_before &&
      mmio_.read32(Reg32::last_error_fence) == out.fence) {
    const std::uint32_t last = mmio_.read32(Reg32::last_error);
    out.device_status = last & 0xFFFFu;
    out.op_index = last >> 16;
  }
  return out;
}

}  // namespace hix::session
