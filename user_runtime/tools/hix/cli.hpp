// The `hix` CLI's shared pieces: exit codes, one-line errors, the option
// reader every subcommand uses, the endpoint and the attestation inputs.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "json.hpp"
#include "session/client.hpp"

namespace hix::cli {

// Exit status of every subcommand (docs/user-guide.md lists them).
enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,    // the endpoint, the device or I/O failed
  kExitUsage = 2,     // a bad command line or option value
  kExitRefused = 3,   // the attestation was refused
  kExitBadModel = 4,  // the .hixm file, its key or the model was refused
};

// "hix: <message>" on stderr; returns `code`.
int fail(const std::string& message, int code);

// Options of one subcommand: "--name value" pairs, "--flag"s and
// positional arguments, checked against what the subcommand accepts.
class Options {
 public:
  // `valued` and `flags` list the accepted option names without "--".
  static std::optional<Options> parse(int argc, char** argv, const std::vector<std::string>& valued,
                                      const std::vector<std::string>& flags, std::string& error);
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  bool flag(const std::string& name) const { return flags_.count(name) != 0; }
  std::string get(const std::string& name, std::string_view fallback = {}) const;
  const std::vector<std::string>& positional() const { return positional_; }

  // Typed values; false with `error` set when present but malformed.
  bool get_u64(const std::string& name, std::uint64_t min, std::uint64_t max, std::uint64_t& out,
               std::string& error) const;
  bool get_float(const std::string& name, float& out, std::string& error) const;

 private:
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> flags_;
  std::vector<std::string> positional_;
};

struct Endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
};
// "HOST:PORT" or "PORT".
std::optional<Endpoint> parse_endpoint(const std::string& text);

// --platform-key FILE and --mrenclave HEX into what OPEN must prove.
std::optional<client::Expectations> expectations(const Options& o, std::string& error);

// JSON output: the model compiler's writers.
using model::json_number;
using model::json_quote;

int cmd_seal(int argc, char** argv);
int cmd_attest(int argc, char** argv);
int cmd_generate(int argc, char** argv);
int cmd_verify(int argc, char** argv);

}  // namespace hix::cli
