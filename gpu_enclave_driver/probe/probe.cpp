// hix-probe's register check (docs/specs/hix-gpu.md §2).
#include "probe.hpp"

#include <cstdio>

namespace hix::probe {

using gpu::Reg32;

RegisterReport probe_registers(gpu::RegisterIo& io, std::uint32_t pattern) {
  RegisterReport r;
  r.id = io.read(Reg32::id);
  r.version = io.read(Reg32::version);
  r.status = io.read(Reg32::status);

  const std::uint32_t saved = io.read(Reg32::scratch);
  r.scratch_written = pattern;
  io.write(Reg32::scratch, pattern);
  r.scratch_read = io.read(Reg32::scratch);
  io.write(Reg32::scratch, saved);

  io.write(Reg32::id, ~r.id);
  r.id_after_write = io.read(Reg32::id);
  r.badacc = io.read(Reg32::badacc);
  return r;
}

std::string format_report(const RegisterReport& r) {
  char line[256];
  std::snprintf(line, sizeof line,
                "id=0x%08x version=0x%08x status=0x%08x scratch_written=0x%08x "
                "scratch_read=0x%08x id_after_write=0x%08x badacc=%u",
                r.id, r.version, r.status, r.scratch_written, r.scratch_read, r.id_after_write,
                r.badacc);
  return line;
}

}  // namespace hix::probe
