// The session client (client.hpp).
#include "client.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "report.hpp"

namespace hix::client {
namespace {

// PUT and GET move at most this much per frame (HIX_FRAME_MAX minus the
// request's own header, rounded down to pages).
constexpr std::uint64_t kBulkPerFrame = (kFrameMax - kPage);

template <class T>
std::span<const std::uint8_t> bytes_of(const T& v) {
  // reinterpret_cast: a wire struct's bytes (little-endian, no padding).
  return {reinterpret_cast<const std::uint8_t*>(&v), sizeof v};
}

// The extents hixd reported must tile [0, window) in order; hixd is not
// trusted, but a client must not address past what it asked for.
Check check_extents(const hix_open_reply& r, std::uint64_t window) {
  if (r.extent_count == 0 || r.extent_count > HIX_SESSION_MAX_EXTENTS) {
    return fail(ErrorKind::protocol, "OPEN reply: " + std::to_string(r.extent_count) + " extents");
  }
  std::uint64_t at = 0;
  for (std::uint32_t i = 0; i < r.extent_count; ++i) {
    const hix_window_extent& e = r.extents[i];
    if (e.offset != at || e.length == 0 || e.length > window - at || e.gpa + e.length < e.gpa) {
      return fail(ErrorKind::protocol,
                  "OPEN reply: extent " + std::to_string(i) + " does not continue the window");
    }
    at += e.length;
  }
  if (at != window) {
    return fail(ErrorKind::protocol, "OPEN reply: the extents cover " + std::to_string(at) +
                                         " bytes, not the " + std::to_string(window) + " asked");
  }
  return ok();
}

}  // namespace

Expectations Expectations::attested(std::span<const std::uint8_t, kPlatformKeyBytes> platform_key,
                                    std::span<const std::uint8_t, kMrenclaveBytes> mrenclave) {
  Expectations e;
  std::copy(platform_key.begin(), platform_key.end(), e.platform_key.begin());
  std::copy(mrenclave.begin(), mrenclave.end(), e.mrenclave.begin());
  return e;
}

Check check_open_reply(const hix_open_reply& reply, const Expectations& expect,
                       std::span<const std::uint8_t, kPublicKeyBytes> client_pk,
                       std::span<const std::uint8_t, kNonceBytes> nonce) {
  const bool plain_reply = (reply.flags & HIX_OPEN_PLAIN) != 0;
  if ((reply.flags & ~HIX_OPEN_PLAIN) != 0) {
    return fail(ErrorKind::protocol, "OPEN reply: unknown flags");
  }
  if (expect.plain) {
    if (!plain_reply) {
      return fail(ErrorKind::attestation,
                  "hixd runs in protected mode, but plain mode was asked for (drop --plain)");
    }
    return ok();
  }
  if (plain_reply) {
    return fail(ErrorKind::attestation,
                "refused: hixd answered in plain mode (no report), but protection was asked for");
  }
  const ReportStatus rs = verify_report(reply.report, expect.platform_key, expect.mrenclave);
  if (rs != ReportStatus::ok) {
    return fail(ErrorKind::attestation,
                std::string("refused: the enclave's report fails verification: ") + to_string(rs));
  }
  const ReportData want = session_binding(reply.enclave_pk, client_pk, nonce, reply.session);
  hix_report r{};
  std::memcpy(&r, reply.report, sizeof r);
  if (sodium_memcmp(r.report_data, want.data(), want.size()) != 0) {
    return fail(ErrorKind::attestation,
                "refused: the report does not bind this session (report_data is not SHA-256 of "
                "the label, the enclave key, our key, our nonce and the session id)");
  }
  return ok();
}

Result<Client> Client::connect(std::uint16_t port, const std::string& host, unsigned timeout_s) {
  auto c = Connection::connect(host, port, timeout_s);
  if (!c) return c.error();
  return Client(std::move(c).value());
}

Result<Info> Client::info() {
  auto r = conn_.request(HIX_FRAME_INFO, {});
  if (!r) return r.error();
  if (!r->ok()) return refusal("INFO", *r);
  hix_frame_info fi{};
  if (r->payload.size() != sizeof fi) {
    return fail(ErrorKind::protocol,
                "INFO reply of " + std::to_string(r->payload.size()) + " bytes");
  }
  std::memcpy(&fi, r->payload.data(), sizeof fi);
  if (fi.disk_count > HIX_INFO_MAX_DISKS) return fail(ErrorKind::protocol, "INFO: too many disks");
  Info info;
  info.revision = fi.revision;
  info.plain = (fi.flags & HIX_INFO_PLAIN) != 0;
  info.max_sessions = fi.max_sessions;
  info.max_window_bytes = fi.max_window_bytes;
  info.disk_bytes.assign(fi.disk_bytes, fi.disk_bytes + fi.disk_count);
  return info;
}

Result<Session> Client::open(std::uint64_t window_bytes, const Expectations& expect) {
  if (window_bytes == 0 || window_bytes > (std::uint64_t{1} << 40)) {
    return fail(ErrorKind::usage, "window size out of range");
  }
  const std::uint64_t window = (window_bytes + kPage - 1) / kPage * kPage;
  KeyPair kp = KeyPair::generate();
  hix_open_request req{};
  std::memcpy(req.client_pk, kp.public_key().data(), kPublicKeyBytes);
  Nonce nonce{};
  random_bytes(nonce);
  std::memcpy(req.nonce, nonce.data(), nonce.size());
  req.window_bytes = window;

  auto r = conn_.request(HIX_FRAME_OPEN, bytes_of(req));
  if (!r) return r.error();
  if (!r->ok()) return refusal("OPEN", *r);
  hix_open_reply reply{};
  if (r->payload.size() != sizeof reply) {
    return fail(ErrorKind::protocol,
                "OPEN reply of " + std::to_string(r->payload.size()) + " bytes");
  }
  std::memcpy(&reply, r->payload.data(), sizeof reply);
  if (auto c = check_open_reply(reply, expect, kp.public_key(), nonce); !c) return c.error();
  if (auto c = check_extents(reply, window); !c) return c.error();
  auto keys = client_session_keys(kp, reply.enclave_pk);
  if (!keys) return fail(ErrorKind::crypto, "the enclave's public key is unusable (crypto_kx)");

  Session s(std::move(conn_), Channel(reply.session, std::move(*keys)), expect.plain);
  s.extents_.assign(reply.extents, reply.extents + reply.extent_count);
  s.window_bytes_ = window;
  std::memcpy(s.enclave_pk_.data(), reply.enclave_pk, kPublicKeyBytes);
  std::memcpy(s.report_.data(), reply.report, s.report_.size());
  return s;
}

std::optional<std::uint64_t> Session::gpa(std::uint64_t offset, std::uint64_t len) const {
  for (const hix_window_extent& e : extents_) {
    if (offset >= e.offset && offset - e.offset <= e.length &&
        len <= e.length - (offset - e.offset)) {
      return e.gpa + (offset - e.offset);
    }
  }
  return std::nullopt;
}

Result<std::vector<std::uint8_t>> Session::call(std::uint16_t type,
                                                std::span<const std::uint8_t> plaintext) {
  if (plaintext.size() > kMsgMax) {
    return fail(ErrorKind::usage,
                "request of " + std::to_string(plaintext.size()) + " bytes over HIX_MSG_MAX");
  }
  const std::vector<std::uint8_t> sealed = channel_.seal_request(type, plaintext);
  auto r = conn_.request(HIX_FRAME_CALL, sealed);
  if (!r) return r.error();
  if (!r->ok()) return refusal("CALL (rejected unopened)", *r);
  auto plain = channel_.open_response(type, r->payload);
  if (!plain) return plain.error();
  hix_msg_status st{};
  std::memcpy(&st, plain->data(), sizeof st);
  if (st.status != HIX_SESSION_OK) {
    return Error{ErrorKind::refused, st.status, st.detail,
                 "the enclave refused the request: " + describe_status(st)};
  }
  return std::vector<std::uint8_t>(plain->begin() + sizeof st, plain->end());
}

Result<std::vector<std::uint32_t>> Session::alloc(std::span<const std::uint64_t> sizes) {
  std::vector<std::uint32_t> handles;
  for (std::size_t at = 0; at < sizes.size(); at += HIX_MSG_ALLOC_MAX) {
    const std::size_t n = std::min<std::size_t>(HIX_MSG_ALLOC_MAX, sizes.size() - at);
    hix_msg_alloc a{};
    a.count = static_cast<std::uint32_t>(n);
    std::vector<std::uint8_t> msg(sizeof a + n * 8);
    std::memcpy(msg.data(), &a, sizeof a);
    std::memcpy(msg.data() + sizeof a, sizes.data() + at, n * 8);
    auto r = call(HIX_MSG_ALLOC, msg);
    if (!r) return r.error();
    if (r->size() != n * 4) return fail(ErrorKind::protocol, "ALLOC response of the wrong size");
    const std::size_t first = handles.size();
    handles.resize(first + n);
    std::memcpy(handles.data() + first, r->data(), n * 4);
  }
  return handles;
}

Check Session::free(std::span<const std::uint32_t> handles) {
  for (std::size_t at = 0; at < handles.size(); at += HIX_MSG_ALLOC_MAX) {
    const std::size_t n = std::min<std::size_t>(HIX_MSG_ALLOC_MAX, handles.size() - at);
    hix_msg_free f{};
    f.count = static_cast<std::uint32_t>(n);
    std::vector<std::uint8_t> msg(sizeof f + n * 4);
    std::memcpy(msg.data(), &f, sizeof f);
    std::memcpy(msg.data() + sizeof f, handles.data() + at, n * 4);
    auto r = call(HIX_MSG_FREE, msg);
    if (!r) return r.error();
  }
  return ok();
}

Check Session::model_key(std::uint32_t slot, std::span<const std::uint8_t, kKeyBytes> key) {
  hix_msg_model_key m{};
  m.slot = slot;
  std::memcpy(m.key, key.data(), key.size());
  auto r = call(HIX_MSG_MODEL_KEY, bytes_of(m));
  sodium_memzero(&m, sizeof m);
  if (!r) return r.error();
  return ok();
}

Result<hix_submit_result> Session::submit(std::span<const std::byte> cmdbuf) {
  // reinterpret_cast: the command buffer's bytes as the message's plaintext.
  auto r =
      call(HIX_MSG_SUBMIT, {reinterpret_cast<const std::uint8_t*>(cmdbuf.data()), cmdbuf.size()});
  if (!r) return r.error();
  hix_submit_result res{};
  if (r->size() != sizeof res)
    return fail(ErrorKind::protocol, "SUBMIT response of the wrong size");
  std::memcpy(&res, r->data(), sizeof res);
  if (res.device_status != 0) {
    const std::uint32_t detail = ((res.op_index & 0xFFFFu) << 16) | (res.device_status & 0xFFFFu);
    return Error{ErrorKind::refused, HIX_SESSION_DEVICE, detail,
                 "the command buffer failed on the device: " +
                     describe_status({.status = HIX_SESSION_DEVICE, .detail = detail})};
  }
  return res;
}

Check Session::put(std::uint64_t offset, std::span<const std::uint8_t> bytes) {
  for (std::uint64_t at = 0; at < bytes.size(); at += kBulkPerFrame) {
    const std::uint64_t n = std::min<std::uint64_t>(kBulkPerFrame, bytes.size() - at);
    hix_put_request p{};
    p.offset = offset + at;
    auto r = conn_.request(HIX_FRAME_PUT, bytes_of(p), bytes.subspan(at, n));
    if (!r) return r.error();
    if (!r->ok()) return refusal("PUT", *r);
  }
  return ok();
}

Result<std::vector<std::uint8_t>> Session::get(WindowRange range) {
  const std::uint64_t offset = range.offset;
  const std::uint64_t len = range.length;
  std::vector<std::uint8_t> out;
  out.reserve(len);
  for (std::uint64_t at = 0; at < len; at += kBulkPerFrame) {
    const std::uint64_t n = std::min<std::uint64_t>(kBulkPerFrame, len - at);
    hix_get_request g{};
    g.offset = offset + at;
    g.length = n;
    auto r = conn_.request(HIX_FRAME_GET, bytes_of(g));
    if (!r) return r.error();
    if (!r->ok()) return refusal("GET", *r);
    if (r->payload.size() != n) return fail(ErrorKind::protocol, "GET reply of the wrong size");
    out.insert(out.end(), r->payload.begin(), r->payload.end());
  }
  return out;
}

Result<hix_load_reply> Session::load(const DiskLoad& l) {
  hix_load_request req{};
  req.disk = l.disk;
  req.disk_offset = l.disk_offset;
  req.window_offset = l.window_offset;
  req.length = l.length;
  auto r = conn_.request(HIX_FRAME_LOAD, bytes_of(req));
  if (!r) return r.error();
  if (!r->ok()) return refusal("LOAD", *r);
  hix_load_reply out{};
  if (r->payload.size() != sizeof out)
    return fail(ErrorKind::protocol, "LOAD reply of the wrong size");
  std::memcpy(&out, r->payload.data(), sizeof out);
  return out;
}

Check Session::close() {
  if (!conn_.is_open()) return ok();
  auto sealed = call(HIX_MSG_CLOSE, {});
  if (conn_.is_open()) {
    auto r = conn_.request(HIX_FRAME_CLOSE, {});
    conn_.close();
    if (!r) return r.error();
    if (!r->ok()) return refusal("CLOSE", *r);
  }
  if (!sealed) return sealed.error();
  return ok();
}

}  // namespace hix::client
