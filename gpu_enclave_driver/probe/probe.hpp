// hix-probe's register check: what a driver reads from BAR0 on first contact.
#pragma once

#include <cstdint>
#include <string>

#include "hix/gpu/register_io.hpp"

namespace hix::probe {

struct RegisterReport {
  std::uint32_t id = 0;
  std::uint32_t version = 0;
  std::uint32_t status = 0;
  std::uint32_t scratch_written = 0;
  std::uint32_t scratch_read = 0;
  std::uint32_t id_after_write = 0;  // ID read back after an attempted write
  std::uint32_t badacc = 0;
};

// Reads the identity registers, round-trips SCRATCH with `pattern` and tries
// (and must fail) to overwrite the read-only ID. Restores SCRATCH afterwards.
RegisterReport probe_registers(gpu::RegisterIo& io, std::uint32_t pattern);

// One "key=value ..." line for the report, the format tests parse.
std::string format_report(const RegisterReport& r);

}  // namespace hix::probe
