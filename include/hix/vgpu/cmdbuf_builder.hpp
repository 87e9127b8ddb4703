// Builds command buffers (spec §6) for the GPU enclave, the user runtime,
// tests and benchmarks: fills in every record's opcode and size and the
// header's count and length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "hix/abi/vgpu_cmd.h"

namespace hix::vgpu {

inline hix_vgpu_tref tref(std::uint32_t handle, std::uint8_t dtype, std::uint64_t offset = 0) {
  hix_vgpu_tref t{};
  t.handle = handle;
  t.dtype = dtype;
  t.index_reg = HIX_VGPU_REG_NONE;
  t.offset = offset;
  return t;
}

// A reference whose start moves by `stride` bytes per unit of register `reg`.
inline hix_vgpu_tref tref_indexed(std::uint32_t handle, std::uint8_t dtype, std::uint64_t offset,
                                  std::uint8_t reg, std::uint32_t stride) {
  hix_vgpu_tref t = tref(handle, dtype, offset);
  t.index_reg = reg;
  t.index_stride = stride;
  return t;
}

// The guest memory a DMA record moves: `bytes` bytes at guest-physical `gpa`.
struct GuestRange {
  std::uint64_t gpa = 0;
  std::uint64_t bytes = 0;
};

// The bytes of a peer disk a DMA record reads (spec hix-gpu §7.4).
struct PeerRange {
  std::uint32_t disk = 0;
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;  // plaintext
};

// What an encrypting or decrypting DMA binds its chunks to: the
// tensor id every chunk header carries and the key slot that seals them.
struct TensorKey {
  std::uint64_t tensor_id = 0;
  std::uint32_t key_slot = 0;
};

// A loop record: the `body_ops` records after it run `count` times.
struct LoopHeader {
  std::uint32_t count = 0;
  std::uint32_t body_ops = 0;
};

class CmdbufBuilder {
 public:
  CmdbufBuilder() : bytes_(sizeof(hix_vgpu_cmdbuf_header)) {}

  // Appends a record; sets its header's opcode and size (flags are kept).
  template <class Rec>
  CmdbufBuilder& add(std::uint16_t opcode, Rec rec) {
    static_assert(sizeof(Rec) % 8 == 0);
    rec.h.opcode = opcode;
    rec.h.size = static_cast<std::uint16_t>(sizeof(Rec));
    const std::size_t at = bytes_.size();
    bytes_.resize(at + sizeof(Rec));
    std::memcpy(bytes_.data() + at, &rec, sizeof(Rec));
    ++ops_;
    return *this;
  }

  // Appends another builder's records (e.g. a loop body built separately).
  CmdbufBuilder& append(const CmdbufBuilder& other) {
    bytes_.insert(
        bytes_.end(),
        other.bytes_.begin() + static_cast<std::ptrdiff_t>(sizeof(hix_vgpu_cmdbuf_header)),
        other.bytes_.end());
    ops_ += other.ops_;
    return *this;
  }

  std::uint32_t op_count() const { return ops_; }

  // The finished buffer (the builder can keep adding afterwards).
  std::vector<std::byte> finish() const {
    std::vector<std::byte> out = bytes_;
    hix_vgpu_cmdbuf_header h{};
    h.magic = HIX_VGPU_CMDBUF_MAGIC;
    h.version = HIX_VGPU_CMDBUF_VERSION;
    h.op_count = ops_;
    h.total_len = static_cast<std::uint32_t>(out.size());
    std::memcpy(out.data(), &h, sizeof h);
    return out;
  }

  // Convenience for the common ops.
  CmdbufBuilder& fill(hix_vgpu_tref dst, std::uint64_t count, std::uint32_t bits) {
    hix_vgpu_op_fill r{};
    r.dst = dst;
    r.count = count;
    r.value = bits;
    return add(HIX_VGPU_OP_FILL, r);
  }
  CmdbufBuilder& copy(hix_vgpu_tref dst, hix_vgpu_tref src, std::uint64_t count) {
    hix_vgpu_op_copy r{};
    r.dst = dst;
    r.src = src;
    r.count = count;
    return add(HIX_VGPU_OP_COPY, r);
  }
  CmdbufBuilder& dma(std::uint16_t opcode, hix_vgpu_tref buf, GuestRange range) {
    hix_vgpu_op_dma r{};
    r.buf = buf;
    r.gpa = range.gpa;
    r.bytes = range.bytes;
    return add(opcode, r);
  }
  CmdbufBuilder& dma_crypt(std::uint16_t opcode, hix_vgpu_tref buf, GuestRange range,
                           TensorKey key) {
    hix_vgpu_op_dma_crypt r{};
    r.buf = buf;
    r.gpa = range.gpa;
    r.bytes = range.bytes;
    r.tensor_id = key.tensor_id;
    r.key_slot = key.key_slot;
    return add(opcode, r);
  }
  // DMA_IN_PEER (key {}) or DMA_IN_DECRYPT_PEER.
  CmdbufBuilder& dma_peer(std::uint16_t opcode, hix_vgpu_tref buf, PeerRange range, TensorKey key) {
    hix_vgpu_op_dma_peer r{};
    r.buf = buf;
    r.offset = range.offset;
    r.bytes = range.bytes;
    r.tensor_id = key.tensor_id;
    r.key_slot = key.key_slot;
    r.disk = range.disk;
    return add(opcode, r);
  }
  CmdbufBuilder& set_reg(std::uint32_t reg, std::int32_t value) {
    hix_vgpu_op_reg r{};
    r.reg = reg;
    r.value = value;
    return add(HIX_VGPU_OP_SET_REG, r);
  }
  CmdbufBuilder& add_reg(std::uint32_t reg, std::int32_t value) {
    hix_vgpu_op_reg r{};
    r.reg = reg;
    r.value = value;
    return add(HIX_VGPU_OP_ADD_REG, r);
  }
  CmdbufBuilder& loop(LoopHeader header) {
    hix_vgpu_op_loop r{};
    r.count = header.count;
    r.body_ops = header.body_ops;
    return add(HIX_VGPU_OP_LOOP, r);
  }

 private:
  std::vector<std::byte> bytes_;
  std::uint32_t ops_ = 0;
};

}  // namespace hix::vgpu
