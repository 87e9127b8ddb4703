// Hex text <-> bytes for the CLIs (reports, measurements, keys on the
// command line). Parsing is strict: even length, [0-9a-fA-F] only.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hix {

std::string to_hex(std::span<const std::uint8_t> bytes);

// nullopt unless `text` is an even number of hex digits.
std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text);

}  // namespace hix
