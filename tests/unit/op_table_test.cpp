// The tensor ISA's op descriptors (include/hix/vgpu/op_table.hpp) against
// the op list of docs/specs/hix-gpu.md §6.4: opcodes, names, operands (their
// names, order and count), the dtypes and optional operands the spec states.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "hix/vgpu/op_table.hpp"
#include "spec_table.hpp"

namespace hix::vgpu {
namespace {

// One operand as the spec's operand column names it.
struct SpecOperand {
  std::string name;
  std::string dtype;  // "float", "i32" or "" (not stated)
  bool optional = false;
};

struct SpecOp {
  std::uint16_t opcode = 0;
  std::string name;
  std::vector<SpecOperand> operands;
};

// The text of §6.4 only: the admin commands (§4) and the frontend protocol
// (§10) have tables of the same shape.
std::string ops_section(const std::string& spec) {
  const auto begin = spec.find("### 6.4 Ops");
  const auto end = spec.find("\n### ", begin + 1);
  if (begin == std::string::npos) return {};
  return spec.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

// Operands of one cell: the lower-case `names`, in order, outside
// parentheses (asides such as "(a multiple of `dst`'s element size)");
// `[shapes]` and upper-case `FLAGS` are not operands. "as `ADD`" takes
// another op's operands.
std::vector<SpecOperand> parse_operands(const std::string& cell,
                                        const std::map<std::string, SpecOp>& ops) {
  static const std::regex as_other(R"(^\s*as\s+`([A-Z][A-Z0-9_]*)`\s*$)");
  std::smatch m;
  if (std::regex_search(cell, m, as_other)) {
    const auto other = ops.find(m[1]);
    return other == ops.end() ? std::vector<SpecOperand>{} : other->second.operands;
  }
  std::string outside;
  int depth = 0;
  for (const char c : cell) {
    if (c == '(') ++depth;
    if (depth == 0) outside += c;
    if (c == ')' && depth > 0) --depth;
  }
  static const std::regex name(R"((optional\s+)?`([a-z][a-z0-9_]*)`(\s+(float|i32)\b)?)");
  std::vector<SpecOperand> operands;
  for (auto it = std::sregex_iterator(outside.begin(), outside.end(), name);
       it != std::sregex_iterator(); ++it) {
    operands.push_back({(*it)[2].str(), (*it)[4].str(), (*it)[1].matched});
  }
  return operands;
}

std::vector<SpecOp> spec_ops() {
  static const std::regex row(
      R"(^\|\s*`0x([0-9A-Fa-f]+)`\s*\|\s*`([A-Z][A-Z0-9_]*)`\s*\|([^|]*)\|)");
  std::vector<SpecOp> list;
  std::map<std::string, SpecOp> by_name;
  for (const auto& c :
       test::spec_captures(ops_section(test::read_spec("docs/specs/hix-gpu.md")), row)) {
    SpecOp op{static_cast<std::uint16_t>(std::stoul(c[1], nullptr, 16)), c[2],
              parse_operands(c[3], by_name)};
    by_name[op.name] = op;
    list.push_back(op);
  }
  return list;
}

std::vector<std::string> names_of(const std::vector<SpecOperand>& operands) {
  std::vector<std::string> names;
  names.reserve(operands.size());
  for (const auto& o : operands) names.push_back(o.name);
  return names;
}

std::vector<std::string> names_of(const OpDesc& d) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < d.operand_count(); ++i) names.emplace_back(d.operands[i].name);
  return names;
}

class OpTableSpec : public ::testing::Test {
 protected:
  std::vector<SpecOp> ops = spec_ops();
};

TEST_F(OpTableSpec, SpecListsEveryOpOfTheTable) {
  ASSERT_EQ(ops.size(), kOpTable.size());
}

TEST_F(OpTableSpec, EverySpecOpHasTheRowOfItsOpcodeWithItsName) {
  ASSERT_FALSE(ops.empty());
  for (const SpecOp& op : ops) {
    const OpDesc* d = find_op(op.opcode);
    ASSERT_NE(d, nullptr) << op.name;
    EXPECT_EQ(std::string(d->name), op.name);
  }
}

TEST_F(OpTableSpec, EveryRowHasTheSpecsOperandsInTheSpecsOrder) {
  ASSERT_FALSE(ops.empty());
  for (const SpecOp& op : ops) {
    const OpDesc* d = find_op(op.opcode);
    ASSERT_NE(d, nullptr) << op.name;
    EXPECT_EQ(d->operand_count(), op.operands.size()) << op.name;
    EXPECT_EQ(names_of(*d), names_of(op.operands)) << op.name;
  }
}

TEST_F(OpTableSpec, TensorOperandsTakeTheDtypesAndOptionalityTheSpecStates) {
  std::size_t stated = 0;
  for (const SpecOp& op : ops) {
    const OpDesc* d = find_op(op.opcode);
    ASSERT_NE(d, nullptr) << op.name;
    for (std::size_t i = 0; i < op.operands.size() && i < d->operand_count(); ++i) {
      const SpecOperand& s = op.operands[i];
      const Operand& o = d->operands[i];
      const std::string where = op.name + "." + s.name;
      EXPECT_EQ(o.optional, s.optional) << where;
      if (s.dtype.empty()) continue;
      ++stated;
      ASSERT_TRUE(o.is_tensor()) << where;
      EXPECT_EQ(o.dtypes, s.dtype == "i32" ? kI32 : kFloat) << where;
    }
  }
  EXPECT_GE(stated, 6u);  // EMBEDDING, ARGMAX, SAMPLE state theirs
}

TEST(OpTable, OpcodesWithoutARowAreUnknown) {
  std::size_t known = 0;
  for (std::uint32_t op = 0; op <= 0xFFFF; ++op) {
    const OpDesc* d = find_op(static_cast<std::uint16_t>(op));
    if (d == nullptr) continue;
    ++known;
    EXPECT_EQ(d->opcode, op);
  }
  EXPECT_EQ(known, kOpTable.size());
  EXPECT_EQ(find_op(0x07), nullptr);
  EXPECT_EQ(find_op(0x24), nullptr);
  EXPECT_EQ(find_op(0xFFFF), nullptr);
}

TEST(OpTable, OnlyTheDmaOpsAreKeptOutOfRecordedLoops) {
  for (const OpDesc& d : kOpTable) {
    const bool dma = (d.opcode >= HIX_VGPU_OP_DMA_IN && d.opcode <= HIX_VGPU_OP_DMA_OUT_ENCRYPT) ||
                     d.opcode == HIX_VGPU_OP_DMA_IN_PEER ||
                     d.opcode == HIX_VGPU_OP_DMA_IN_DECRYPT_PEER;
    EXPECT_EQ(d.recordable(), !dma) << d.name;
  }
}

}  // namespace
}  // namespace hix::vgpu
