// Command-buffer parser (spec §6.1-§6.4): the context-free half of
// validation. Checks the header, every record's opcode, size, flags and
// reserved fields, tensor-reference encoding, scalar-register numbers,
// float parameters and the loop structure, all as include/hix/vgpu/op_table.hpp
// describes each op. What needs the context (handles, bounds, dtypes per
// operand, shapes) is the executor's validation pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "hix/abi/vgpu_cmd.h"
#include "hix/vgpu/op_table.hpp"
#include "status.hpp"

namespace hix::vgpu {

struct DecodedOp {
  const OpDesc* desc;    // the op's row in kOpTable, never null
  std::uint32_t offset;  // of the record in the command buffer
};

struct Program {
  std::vector<DecodedOp> ops;
};

struct ParseResult {
  Status status;
  std::uint32_t op_index;  // the failing op (0 for header errors)
  Program program;
};

[[nodiscard]] ParseResult parse_cmdbuf(std::span<const std::byte> bytes);

// Copies a record out of the buffer (records are not necessarily aligned
// for their type in the caller's memory).
template <class T>
T load_record(std::span<const std::byte> bytes, std::uint32_t offset) {
  T rec{};
  std::memcpy(&rec, bytes.data() + offset, sizeof rec);
  return rec;
}

}  // namespace hix::vgpu
