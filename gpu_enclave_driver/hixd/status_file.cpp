// hixd's status file (status_file.hpp).
#include "status_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

namespace hix::hixd {
namespace {

constexpr std::array<const char*, kStatusNames> kNames = {
    "ok",        "malformed",    "unknown_session", "forged",    "replayed",
    "reordered", "bad_request",  "validation",      "device",    "no_resource",
    "busy",      "out_of_range", "io_error",        "not_ready", "internal",
};

constexpr std::array<const char*, 10> kReasons = {
    "none", "header", "opcode",    "record",   "handle",
    "tref", "loop",   "dma_range", "key_slot", "tensor_id",
};

void line(std::string& out, const char* key, std::uint64_t v) {
  out += key;
  out += '=';
  out += std::to_string(v);
  out += '\n';
}

}  // namespace

const char* status_name(std::uint32_t status) {
  return status < kNames.size() ? kNames[status] : "unknown";
}

std::string format_status(const StatusSnapshot& s) {
  const Counters& c = *s.counters;
  std::string out;
  out += std::string("mode=") + s.mode + '\n';
  out += (s.identity.rfind("mrenclave=", 0) == 0 ? s.identity : "mrenclave=none") + '\n';
  line(out, "ready", s.ready ? 1 : 0);
  line(out, "port", s.port);
  line(out, "connections_live", c.connections_live);
  line(out, "connections_total", c.connections_total);
  line(out, "connections_refused", c.connections_refused);
  line(out, "sessions_live", c.sessions_live);
  line(out, "sessions_opened", c.sessions_opened);
  line(out, "sessions_closed", c.sessions_closed);
  line(out, "sessions_lost", c.sessions_lost);
  line(out, "requests", c.requests);
  line(out, "calls", c.calls);
  line(out, "puts", c.puts);
  line(out, "gets", c.gets);
  line(out, "loads", c.loads);
  line(out, "load_bytes", c.load_bytes);
  line(out, "load_ns", c.load_ns);
  line(out, "rejections", c.rejections);
  for (std::size_t i = 1; i < kNames.size(); ++i) {
    line(out, ("rejected_" + std::string(kNames[i])).c_str(), c.rejected[i]);
  }
  line(out, "protocol_errors", c.protocol_errors);
  line(out, "stalled", c.stalled);
  line(out, "enclave_deaths", c.enclave_deaths);
  line(out, "enclave_restarts", c.enclave_restarts);
  if (s.enclave != nullptr) {
    const gpu_enclave_stats& e = *s.enclave;
    line(out, "enclave_sessions_opened", e.sessions_opened);
    line(out, "enclave_sessions_closed", e.sessions_closed);
    line(out, "enclave_sessions_live", e.sessions_live);
    line(out, "enclave_messages_accepted", e.messages_accepted);
    for (std::size_t i = 1; i < kNames.size(); ++i) {
      line(out, ("enclave_rejected_" + std::string(kNames[i])).c_str(), e.rejected[i]);
    }
    for (std::size_t i = 1; i < kReasons.size(); ++i) {
      line(out, ("enclave_validation_" + std::string(kReasons[i])).c_str(), e.validation[i]);
    }
    line(out, "enclave_submits", e.submits);
    line(out, "enclave_device_errors", e.device_errors);
  }
  return out;
}

bool write_status(const std::string& path, const StatusSnapshot& s) {
  if (path.empty()) return true;
  const std::string text = format_status(s);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      ::close(fd);
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace hix::hixd
