// The `hix` CLI's shared pieces (cli.hpp).
#include "cli.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "hex.hpp"
#include "report.hpp"

namespace hix::cli {

int fail(const std::string& message, int code) {
  std::fprintf(stderr, "hix: %s\n", message.c_str());
  return code;
}

std::optional<Options> Options::parse(int argc, char** argv, const std::vector<std::string>& valued,
                                      const std::vector<std::string>& flags, std::string& error) {
  const auto listed = [](const std::vector<std::string>& names, const std::string& n) {
    for (const auto& v : names) {
      if (v == n) return true;
    }
    return false;
  };
  Options o;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
      std::string name = a.substr(2);
      std::optional<std::string> inline_value;
      if (const auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name.resize(eq);
      }
      if (listed(flags, name) && !inline_value) {
        o.flags_[name] = true;
      } else if (listed(valued, name)) {
        if (!inline_value && i + 1 >= argc) {
          error = "--" + name + " needs a value";
          return std::nullopt;
        }
        o.values_[name] = inline_value ? *inline_value : argv[++i];
      } else {
        error = "unknown option --" + name;
        return std::nullopt;
      }
    } else if (a == "-o" && listed(valued, "out")) {
      if (i + 1 >= argc) {
        error = "-o needs a value";
        return std::nullopt;
      }
      o.values_["out"] = argv[++i];
    } else {
      o.positional_.push_back(a);
    }
  }
  return o;
}

std::string Options::get(const std::string& name, std::string_view fallback) const {
  const auto it = values_.find(name);
  return it == values_.end() ? std::string(fallback) : it->second;
}

bool Options::get_u64(const std::string& name, std::uint64_t min, std::uint64_t max,
                      std::uint64_t& out, std::string& error) const {
  if (!has(name)) return true;
  const std::string v = get(name);
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || v[0] == '-' || *end != '\0' || errno != 0 || n < min || n > max) {
    error = "--" + name + ": expected a whole number in " + std::to_string(min) + ".." +
            std::to_string(max) + ", got \"" + v + "\"";
    return false;
  }
  out = n;
  return true;
}

bool Options::get_float(const std::string& name, float& out, std::string& error) const {
  if (!has(name)) return true;
  const std::string v = get(name);
  char* end = nullptr;
  const float f = std::strtof(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !std::isfinite(f)) {
    error = "--" + name + ": expected a number, got \"" + v + "\"";
    return false;
  }
  out = f;
  return true;
}

std::optional<Endpoint> parse_endpoint(const std::string& text) {
  Endpoint e;
  std::string port = text;
  if (const auto colon = text.rfind(':'); colon != std::string::npos) {
    e.host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (e.host.empty()) return std::nullopt;
  }
  char* end = nullptr;
  const unsigned long n = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || n == 0 || n > 65535) return std::nullopt;
  e.port = static_cast<std::uint16_t>(n);
  return e;
}

std::optional<client::Expectations> expectations(const Options& o, std::string& error) {
  if (!o.has("platform-key") || !o.has("mrenclave")) {
    error =
        "attestation needs --platform-key FILE (the platform's Ed25519 public key) and "
        "--mrenclave HEX (the GPU enclave's expected measurement)";
    return std::nullopt;
  }
  const auto key = read_platform_public_key(o.get("platform-key"));
  if (!key) {
    error = o.get("platform-key") + ": not a platform public key (64 hex digits or 32 bytes)";
    return std::nullopt;
  }
  const auto mr = from_hex(o.get("mrenclave"));
  if (!mr || mr->size() != client::kMrenclaveBytes) {
    error = "--mrenclave: expected 64 hex digits";
    return std::nullopt;
  }
  std::array<std::uint8_t, client::kMrenclaveBytes> m{};
  std::copy(mr->begin(), mr->end(), m.begin());
  return client::Expectations::attested(*key, m);
}

}  // namespace hix::cli
