// Command buffers that break one rule of docs/specs/hix-session.md §7 each,
// with the §8.1 reason and op index the enclave must answer. Shared by the
// validator's unit test (a synthetic session) and the end-to-end test (a
// session on the device model, through CALL SUBMIT).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "hix/abi/vgpu_chunk.h"
#include "hix/session/mode.hpp"
#include "hix/session/status.hpp"
#include "hix/vgpu/cmdbuf_builder.hpp"

namespace hix::session::test {

// What a case may name: the session's buffers and window, and what is not
// the session's.
struct Env {
  std::uint32_t buf_a = 0;       // f32, kBufBytes
  std::uint32_t buf_b = 0;       // f32, kBufBytes
  std::uint32_t foreign = 0;     // a live handle of another context, or none at all
  std::uint64_t extent0 = 0;     // gpa of the window's first 1 MiB extent
  std::uint64_t extent1 = 0;     // gpa of the second, directly after the first
  std::uint64_t outside = 0;     // a gpa in guest RAM outside the window
  std::uint32_t model_slot = 0;  // a model key slot the session installed
};

inline constexpr std::uint64_t kBufBytes = 4096;
inline constexpr std::uint64_t kExtent = 1ull << 20;

struct Case {
  std::string name;
  Mode mode;
  std::function<std::vector<std::byte>(const Env&)> build;
  Reason reason;
  std::uint32_t op;
};

namespace cases {

using vgpu::CmdbufBuilder;
using vgpu::tref;

inline std::vector<std::byte> patch(std::vector<std::byte> b, std::size_t at,
                                    std::span<const std::uint8_t> bytes) {
  std::memcpy(b.data() + at, bytes.data(), bytes.size());
  return b;
}
template <class T>
std::vector<std::byte> patch_value(std::vector<std::byte> b, std::size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
  return b;
}

inline CmdbufBuilder nop() {
  CmdbufBuilder b;
  b.add(HIX_VGPU_OP_NOP, hix_vgpu_op_nop{});
  return b;
}
inline CmdbufBuilder copy(const Env& e) {
  CmdbufBuilder b;
  b.copy(tref(e.buf_b, HIX_VGPU_DT_F32), tref(e.buf_a, HIX_VGPU_DT_F32), 16);
  return b;
}
inline CmdbufBuilder decrypt(const Env& e, std::uint64_t gpa, std::uint64_t bytes, std::uint64_t id,
                             std::uint32_t slot) {
  CmdbufBuilder b;
  b.dma_crypt(HIX_VGPU_OP_DMA_IN_DECRYPT, tref(e.buf_a, HIX_VGPU_DT_F32),
              {.gpa = gpa, .bytes = bytes}, {.tensor_id = id, .key_slot = slot});
  return b;
}
inline CmdbufBuilder encrypt(const Env& e, std::uint64_t gpa, std::uint64_t bytes, std::uint64_t id,
                             std::uint32_t slot) {
  CmdbufBuilder b;
  b.dma_crypt(HIX_VGPU_OP_DMA_OUT_ENCRYPT, tref(e.buf_a, HIX_VGPU_DT_F32),
              {.gpa = gpa, .bytes = bytes}, {.tensor_id = id, .key_slot = slot});
  return b;
}
constexpr std::uint64_t kOut = HIX_VGPU_TENSOR_ID_DEVICE;
// Offsets inside the first op record (after the 16-byte header).
constexpr std::size_t kOp0 = sizeof(hix_vgpu_cmdbuf_header);
constexpr std::size_t kCopyDst = kOp0 + offsetof(hix_vgpu_op_copy, dst);

}  // namespace cases

// Every §8.1 reason at least once.
inline std::vector<Case> validation_cases() {
  using namespace cases;
  const Mode P = Mode::protected_mode;
  const Mode U = Mode::plain;
  std::vector<Case> v;
  // HEADER
  v.push_back({"HeaderBadMagic", P,
               [](const Env&) { return patch_value(nop().finish(), 0, std::uint32_t{0}); },
               Reason::header, 0});
  v.push_back({"HeaderBadVersion", P,
               [](const Env&) { return patch_value(nop().finish(), 4, std::uint16_t{2}); },
               Reason::header, 0});
  v.push_back({"HeaderFlagsSet", P,
               [](const Env&) { return patch_value(nop().finish(), 6, std::uint16_t{1}); },
               Reason::header, 0});
  v.push_back({"HeaderNoOps", P,
               [](const Env&) { return patch_value(nop().finish(), 8, std::uint32_t{0}); },
               Reason::header, 0});
  v.push_back({"HeaderTooManyOps", P,
               [](const Env&) { return patch_value(nop().finish(), 8, std::uint32_t{16385}); },
               Reason::header, 0});
  v.push_back({"HeaderTotalLenDisagrees", P,
               [](const Env&) { return patch_value(nop().finish(), 12, std::uint32_t{32}); },
               Reason::header, 0});
  v.push_back({"HeaderLengthNotAMultipleOfEight", P,
               [](const Env&) {
                 auto b = nop().finish();
                 b.resize(b.size() + 4);
                 return patch_value(b, 12, static_cast<std::uint32_t>(b.size()));
               },
               Reason::header, 0});
  v.push_back({"HeaderShorterThanAHeader", P, [](const Env&) { return std::vector<std::byte>(8); },
               Reason::header, 0});
  v.push_back({"HeaderBytesAfterTheLastRecord", P,
               [](const Env&) {
                 auto b = nop().finish();
                 b.resize(b.size() + 8);
                 return patch_value(b, 12, static_cast<std::uint32_t>(b.size()));
               },
               Reason::header, 0});
  // OPCODE
  v.push_back({"OpcodeUnknown", P,
               [](const Env&) { return patch_value(nop().finish(), kOp0, std::uint16_t{0x30}); },
               Reason::opcode, 0});
  v.push_back({"OpcodeAdminRingStartIsNoTensorOp", P,
               [](const Env&) {
                 return patch_value(nop().finish(), kOp0, std::uint16_t{HIX_GPU_CMD_RING_START});
               },
               Reason::opcode, 0});
  v.push_back({"OpcodePlainDmaInInProtectedMode", P,
               [](const Env& e) {
                 CmdbufBuilder b = nop();
                 b.dma(HIX_VGPU_OP_DMA_IN, tref(e.buf_a, HIX_VGPU_DT_F32),
                       {.gpa = e.extent0, .bytes = 64});
                 return b.finish();
               },
               Reason::opcode, 1});
  v.push_back({"OpcodePlainDmaOutInProtectedMode", P,
               [](const Env& e) {
                 CmdbufBuilder b;
                 b.dma(HIX_VGPU_OP_DMA_OUT, tref(e.buf_a, HIX_VGPU_DT_F32),
                       {.gpa = e.extent0, .bytes = 64});
                 return b.finish();
               },
               Reason::opcode, 0});
  v.push_back({"OpcodeDecryptInPlainMode", U,
               [](const Env& e) { return decrypt(e, e.extent0, 64, 1, 0).finish(); },
               Reason::opcode, 0});
  v.push_back({"OpcodeEncryptInPlainMode", U,
               [](const Env& e) { return encrypt(e, e.extent0, 64, kOut | 1, 0).finish(); },
               Reason::opcode, 0});
  // RECORD
  v.push_back(
      {"RecordWrongSize", P,
       [](const Env& e) { return patch_value(copy(e).finish(), kOp0 + 2, std::uint16_t{56}); },
       Reason::record, 0});
  v.push_back(
      {"RecordUnknownFlag", P,
       [](const Env& e) { return patch_value(copy(e).finish(), kOp0 + 4, std::uint32_t{1}); },
       Reason::record, 0});
  v.push_back({"RecordMatmulFlagBeyondTransBAndAccumulate", P,
               [](const Env& e) {
                 hix_vgpu_op_matmul m{};
                 m.h.flags = 4;
                 m.out = m.a = m.b = tref(e.buf_a, HIX_VGPU_DT_F32);
                 m.m = m.n = m.k = 2;
                 CmdbufBuilder b;
                 b.add(HIX_VGPU_OP_MATMUL, m);
                 return b.finish();
               },
               Reason::record, 0});
  v.push_back({"RecordReservedFieldSet", P,
               [](const Env& e) {
                 CmdbufBuilder b;
                 hix_vgpu_op_fill f{};
                 f.dst = tref(e.buf_a, HIX_VGPU_DT_F32);
                 f.count = 4;
                 f.reserved = 1;
                 b.add(HIX_VGPU_OP_FILL, f);
                 return b.finish();
               },
               Reason::record, 0});
  v.push_back({"RecordRopeReservedBytesSet", P,
               [](const Env& e) {
                 hix_vgpu_op_rope r{};
                 r.out = r.x = tref(e.buf_a, HIX_VGPU_DT_F32);
                 r.tokens = r.heads = 1;
                 r.head_dim = r.rot_dim = 2;
                 r.pos_reg = HIX_VGPU_REG_NONE;
                 r.theta = 10000.0f;
                 r.reserved[1] = 1;
                 CmdbufBuilder b;
                 b.add(HIX_VGPU_OP_ROPE, r);
                 return b.finish();
               },
               Reason::record, 0});
  v.push_back({"RecordTruncated", P,
               [](const Env& e) {
                 auto b = copy(e).finish();
                 return patch_value(b, 8, std::uint32_t{2});  // a second op that is not there
               },
               Reason::record, 1});
  // HANDLE
  v.push_back({"HandleNeverAllocated", P,
               [](const Env& e) {
                 return patch_value(copy(e).finish(), kCopyDst, std::uint32_t{0x00AB0077});
               },
               Reason::handle, 0});
  v.push_back({"HandleOfAnotherSession", P,
               [](const Env& e) { return patch_value(copy(e).finish(), kCopyDst, e.foreign); },
               Reason::handle, 0});
  v.push_back({"HandleZeroForARequiredOperand", P,
               [](const Env& e) {
                 return patch_value(nop().append(copy(e)).finish(),
                                    kOp0 + 8 + offsetof(hix_vgpu_op_copy, src), std::uint32_t{0});
               },
               Reason::handle, 1});
  // TREF
  v.push_back(
      {"TrefBadDtype", P,
       [](const Env& e) { return patch_value(copy(e).finish(), kCopyDst + 4, std::uint8_t{4}); },
       Reason::tref, 0});
  v.push_back(
      {"TrefIndexRegisterEight", P,
       [](const Env& e) { return patch_value(copy(e).finish(), kCopyDst + 5, std::uint8_t{8}); },
       Reason::tref, 0});
  v.push_back(
      {"TrefOffsetNotAMultipleOfTheElement", P,
       [](const Env& e) { return patch_value(copy(e).finish(), kCopyDst + 8, std::uint64_t{6}); },
       Reason::tref, 0});
  v.push_back({"TrefOffsetPastTheBuffer", P,
               [](const Env& e) {
                 return patch_value(copy(e).finish(), kCopyDst + 8, std::uint64_t{kBufBytes});
               },
               Reason::tref, 0});
  v.push_back(
      {"TrefStrideWithoutIndexRegister", P,
       [](const Env& e) { return patch_value(copy(e).finish(), kCopyDst + 16, std::uint32_t{4}); },
       Reason::tref, 0});
  v.push_back(
      {"TrefReservedSet", P,
       [](const Env& e) { return patch_value(copy(e).finish(), kCopyDst + 20, std::uint32_t{1}); },
       Reason::tref, 0});
  v.push_back({"TrefAbsentBiasWithFieldsSet", P,
               [](const Env& e) {
                 hix_vgpu_op_matmul m{};
                 m.out = m.a = m.b = tref(e.buf_a, HIX_VGPU_DT_F32);
                 m.bias.offset = 4;  // handle 0 but not all zero
                 m.m = m.n = m.k = 2;
                 CmdbufBuilder b;
                 b.add(HIX_VGPU_OP_MATMUL, m);
                 return b.finish();
               },
               Reason::tref, 0});
  // LOOP
  v.push_back({"LoopCountZero", P,
               [](const Env&) {
                 CmdbufBuilder b;
                 b.loop({.count = 0, .body_ops = 1}).add(HIX_VGPU_OP_NOP, hix_vgpu_op_nop{});
                 return b.finish();
               },
               Reason::loop, 0});
  v.push_back({"LoopCountAbove65536", P,
               [](const Env&) {
                 CmdbufBuilder b;
                 b.loop({.count = 65537, .body_ops = 1}).add(HIX_VGPU_OP_NOP, hix_vgpu_op_nop{});
                 return b.finish();
               },
               Reason::loop, 0});
  v.push_back({"LoopBodyPastTheEnd", P,
               [](const Env&) {
                 CmdbufBuilder b;
                 b.loop({.count = 2, .body_ops = 2}).add(HIX_VGPU_OP_NOP, hix_vgpu_op_nop{});
                 return b.finish();
               },
               Reason::loop, 0});
  v.push_back({"LoopNested", P,
               [](const Env&) {
                 CmdbufBuilder b;
                 b.loop({.count = 2, .body_ops = 2})
                     .loop({.count = 2, .body_ops = 1})
                     .add(HIX_VGPU_OP_NOP, hix_vgpu_op_nop{});
                 return b.finish();
               },
               Reason::loop, 1});
  v.push_back({"LoopBreakOutsideABody", P,
               [](const Env& e) {
                 hix_vgpu_op_break_if_eq x{};
                 x.x = tref(e.buf_a, HIX_VGPU_DT_I32);
                 CmdbufBuilder b = nop();
                 b.add(HIX_VGPU_OP_BREAK_IF_EQ, x);
                 return b.finish();
               },
               Reason::loop, 1});
  v.push_back({"LoopRegisterEight", P,
               [](const Env&) {
                 CmdbufBuilder b;
                 b.set_reg(8, 1);
                 return b.finish();
               },
               Reason::loop, 0});
  v.push_back({"LoopPositionRegisterNine", P,
               [](const Env& e) {
                 hix_vgpu_op_rope r{};
                 r.out = r.x = tref(e.buf_a, HIX_VGPU_DT_F32);
                 r.tokens = r.heads = 1;
                 r.head_dim = r.rot_dim = 2;
                 r.pos_reg = 9;
                 r.theta = 10000.0f;
                 CmdbufBuilder b;
                 b.add(HIX_VGPU_OP_ROPE, r);
                 return b.finish();
               },
               Reason::loop, 0});
  // DMA_RANGE
  v.push_back({"DmaRangeOutsideTheWindow", P,
               [](const Env& e) { return decrypt(e, e.outside, 64, 1, 0).finish(); },
               Reason::dma_range, 0});
  v.push_back({"DmaRangeCrossingTwoExtents", P,
               [](const Env& e) {
                 // The extents are physically adjacent; still one DMA must
                 // lie in one of them.
                 return decrypt(e, e.extent1 - 64, 64, 1, 0).finish();
               },
               Reason::dma_range, 0});
  v.push_back({"DmaRangeSealedSizeRunsPastTheExtent", P,
               [](const Env& e) {
                 // 64 plaintext bytes take 112 sealed bytes.
                 return decrypt(e, e.extent0 + kExtent - 100, 64, 1, 0).finish();
               },
               Reason::dma_range, 0});
  v.push_back({"DmaRangeZeroBytes", P,
               [](const Env& e) { return decrypt(e, e.extent0, 0, 1, 0).finish(); },
               Reason::dma_range, 0});
  v.push_back({"DmaRangeWrapsAround", P,
               [](const Env& e) { return decrypt(e, ~std::uint64_t{0} - 8, 64, 1, 0).finish(); },
               Reason::dma_range, 0});
  v.push_back({"DmaRangeOutputOutsideTheWindow", P,
               [](const Env& e) { return encrypt(e, e.outside, 64, kOut | 1, 0).finish(); },
               Reason::dma_range, 0});
  v.push_back({"DmaRangePlainDmaOutsideTheWindow", U,
               [](const Env& e) {
                 CmdbufBuilder b;
                 b.dma(HIX_VGPU_OP_DMA_OUT, tref(e.buf_a, HIX_VGPU_DT_F32),
                       {.gpa = e.outside, .bytes = 64});
                 return b.finish();
               },
               Reason::dma_range, 0});
  // KEY_SLOT
  v.push_back({"KeySlotNotInstalled", P,
               [](const Env& e) { return decrypt(e, e.extent0, 64, 1, 5).finish(); },
               Reason::key_slot, 0});
  v.push_back({"KeySlotOutOfRange", P,
               [](const Env& e) { return decrypt(e, e.extent0, 64, 1, 8).finish(); },
               Reason::key_slot, 0});
  v.push_back(
      {"KeySlotOutputUnderAModelKey", P,
       [](const Env& e) { return encrypt(e, e.extent0, 64, kOut | 1, e.model_slot).finish(); },
       Reason::key_slot, 0});
  // TENSOR_ID
  v.push_back({"TensorIdInputWithTheDeviceBit", P,
               [](const Env& e) { return decrypt(e, e.extent0, 64, kOut | 1, 0).finish(); },
               Reason::tensor_id, 0});
  v.push_back(
      {"TensorIdInputUnderAModelKeyWithTheDeviceBit", P,
       [](const Env& e) { return decrypt(e, e.extent0, 64, kOut | 1, e.model_slot).finish(); },
       Reason::tensor_id, 0});
  v.push_back({"TensorIdOutputWithoutTheDeviceBit", P,
               [](const Env& e) { return encrypt(e, e.extent0, 64, 1, 0).finish(); },
               Reason::tensor_id, 0});
  v.push_back({"TensorIdZeroIsNotAboveAnything", P,
               [](const Env& e) { return decrypt(e, e.extent0, 64, 0, 0).finish(); },
               Reason::tensor_id, 0});
  v.push_back({"TensorIdNotRisingWithinOneBuffer", P,
               [](const Env& e) {
                 CmdbufBuilder b = decrypt(e, e.extent0, 64, 5, 0);
                 b.append(decrypt(e, e.extent0, 64, 5, 0));
                 return b.finish();
               },
               Reason::tensor_id, 1});
  return v;
}

inline std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return info.param.name;
}

}  // namespace hix::session::test
