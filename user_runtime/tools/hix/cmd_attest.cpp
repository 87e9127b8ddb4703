// `hix attest`: verify the GPU enclave behind hixd (docs/specs/hix-session.md
// §3.2) — the platform's signature, the expected MRENCLAVE, this run's fresh
// nonce and the enclave's session key bound in the report — then close the
// session again.
#include <chrono>

#include "attest_print.hpp"
#include "cli.hpp"

namespace hix::cli {

int cmd_attest(int argc, char** argv) {
  std::string error;
  const auto o =
      Options::parse(argc, argv, {"endpoint", "platform-key", "mrenclave"}, {"json"}, error);
  if (!o) return fail(error, kExitUsage);
  if (!o->positional().empty()) return fail("attest takes no arguments", kExitUsage);
  const auto ep = parse_endpoint(o->get("endpoint"));
  if (!ep) return fail("--endpoint HOST:PORT is required (hixd's address)", kExitUsage);
  const auto expect = expectations(*o, error);
  if (!expect) return fail(error, kExitUsage);

  const auto t0 = std::chrono::steady_clock::now();
  auto c = client::Client::connect(ep->port, ep->host, 60);
  if (!c) {
    return fail("cannot reach hixd at " + ep->host + ":" + std::to_string(ep->port) + ": " +
                    c.error().message,
                kExitFailed);
  }
  auto s = c->open(client::kPage, *expect);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!s) {
    if (o->flag("json")) {
      std::printf("{\"attestation\": {\"verdict\": \"refused\", \"reason\": %s}}\n",
                  json_quote(s.error().message).c_str());
    }
    const bool refused = s.error().kind == client::ErrorKind::attestation;
    return fail(std::string(refused ? "attestation " : "") + s.error().message,
                refused ? kExitRefused : kExitFailed);
  }
  const Attestation a = describe(*s, *expect, ms);
  if (o->flag("json")) {
    std::printf("{\"attestation\": %s}\n", attestation_json(a).c_str());
  } else {
    print_attestation(stdout, a);
  }
  if (auto cl = s->close(); !cl) return fail("CLOSE: " + cl.error().message, kExitFailed);
  return kExitOk;
}

}  // namespace hix::cli
