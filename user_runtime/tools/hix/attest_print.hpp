// What an accepted attestation proved, for the terminal and for --json:
// every check OPEN's reply passed (hix-session.md §3.2) and the report's
// fields behind them.
#pragma once

#include <cstdio>
#include <string>

#include "session/client.hpp"

namespace hix::cli {

struct Attestation {
  std::string platform_key;  // hex of the trusted public key
  std::string mrenclave;     // hex, equal to the expected one
  std::string device;        // the locked device named in the report
  std::uint32_t session = 0;
  double ms = 0;  // connect, OPEN and the checks
};

Attestation describe(const client::Session& s, const client::Expectations& expect, double ms);
void print_attestation(std::FILE* f, const Attestation& a);
std::string attestation_json(const Attestation& a);

}  // namespace hix::cli
