// Reads the register and identity tables out of docs/specs/*.md, so tests
// check the ABI headers against the published spec rather than against
// themselves.
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace hix::test {

inline std::string read_spec(const std::string& relative) {
  std::ifstream in(std::string(HIX_SOURCE_DIR) + "/" + relative);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct SpecRegister {
  std::uint32_t offset;
  std::string name;
  std::string access;
  std::uint32_t reset;
};

// The captures (0: the whole match; "" for a group that did not take part)
// of every line of `text` that `row` matches.
inline std::vector<std::vector<std::string>> spec_captures(const std::string& text,
                                                           const std::regex& row) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, row)) continue;
    std::vector<std::string> captures;
    for (const auto& sub : m) captures.push_back(sub.matched ? sub.str() : std::string());
    rows.push_back(std::move(captures));
  }
  return rows;
}

// Rows of the form: | `0x0000` | `ID` | RO | `0x48495847` | meaning |
inline std::vector<SpecRegister> spec_registers(const std::string& text) {
  static const std::regex row(
      R"(^\|\s*`0x([0-9A-Fa-f]+)`\s*\|\s*`([A-Z0-9_]+)`\s*\|\s*(RO|RW|WO)\s*\|\s*`0x([0-9A-Fa-f]+)`)");
  std::vector<SpecRegister> regs;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, row)) {
      regs.push_back({static_cast<std::uint32_t>(std::stoul(m[1], nullptr, 16)), m[2], m[3],
                      static_cast<std::uint32_t>(std::stoul(m[4], nullptr, 16))});
    }
  }
  return regs;
}

// Rows of the form: | vendor id | `0x1234` ... |
inline std::map<std::string, std::uint32_t> spec_identity(const std::string& text) {
  static const std::regex row(R"(^\|\s*([a-z ]+?)\s*\|\s*`0x([0-9A-Fa-f]+)`)");
  std::map<std::string, std::uint32_t> fields;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, row)) {
      fields[m[1]] = static_cast<std::uint32_t>(std::stoul(m[2], nullptr, 16));
    }
  }
  return fields;
}

}  // namespace hix::test
