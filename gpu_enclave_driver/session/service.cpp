// The session service (docs/specs/hix-session.md §3-§10).
#include "hix/session/service.hpp"

#include <sodium.h>

#include <cstring>

#include "hix/session/message.hpp"
#include "hix/session/validator.hpp"

namespace hix::session {

// A response's data after its hix_msg_status: at most ALLOC's handles.
struct Service::Response {
  std::array<std::uint8_t, std::size_t{4} * HIX_MSG_ALLOC_MAX> data{};
  std::size_t length = 0;
};

namespace {

using gpu::Reg32;

constexpr std::size_t kLabelBytes = sizeof(HIX_SESSION_BIND_LABEL) - 1;          // 18
constexpr std::size_t kTensorLabelBytes = sizeof(HIX_SESSION_TENSOR_LABEL) - 1;  // 21
static_assert(kLabelBytes == 18 && kTensorLabelBytes == 21, "hix-session §3.2, §3.3");
static_assert(crypto_kx_PUBLICKEYBYTES == HIX_SESSION_PK_BYTES);
static_assert(crypto_kx_SESSIONKEYBYTES == kKeyBytes);
static_assert(crypto_kx_SEEDBYTES == 32 && crypto_kx_SECRETKEYBYTES == 32);
static_assert(2 * kKeyBytes <= crypto_generichash_KEYBYTES_MAX);
static_assert(sizeof(hix_report) == HIX_SESSION_REPORT_BYTES);
static_assert(GPU_ENCLAVE_CALL_RESPONSE_MAX ==
              kMsgOverhead + sizeof(hix_msg_status) + std::size_t{4} * HIX_MSG_ALLOC_MAX);
static_assert(sizeof(hix_submit_result) <= std::size_t{4} * HIX_MSG_ALLOC_MAX);

constexpr Outcome fail(Status s, std::uint32_t detail = 0) {
  return Outcome{s, detail};
}

// An admin command's failure as a session outcome: running out of device
// resources is NO_RESOURCE, anything else DEVICE (§8).
Outcome device_failure(std::uint32_t device_status, std::uint32_t index = 0) {
  const bool exhausted =
      device_status == HIX_VGPU_NO_MEMORY || device_status == HIX_VGPU_NO_RESOURCE;
  return fail(exhausted ? Status::no_resource : Status::device,
              device_detail(device_status, index));
}

template <class T>
T load(std::span<const std::uint8_t> bytes, std::size_t offset) {
  T v{};
  std::memcpy(&v, bytes.data() + offset, sizeof v);
  return v;
}

bool power_of_two(std::uint32_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

}  // namespace

Service::Service(Mmio& mmio, UntrustedMemory& memory, Platform& platform, ServiceOptions options)
    : device_(mmio, memory, platform), platform_(platform), memory_(memory), options_(options) {
  device_.set_poll_budget(options_.poll_budget);
}

Service::~Service() {
  sodium_memzero(sk_.data(), sk_.size());
}

// ---- INIT (§9) ----

void Service::init(gpu_enclave_init& io) {
  io.status = to_wire(Status::ok);
  io.caps = 0;
  std::memset(io.enclave_pk, 0, sizeof io.enclave_pk);
  const auto finish = [&io](Status s) { io.status = to_wire(s); };
  if (initialised_) return finish(Status::bad_request);  // one channel key per enclave

  const std::uint32_t id = device_.read(Reg32::id);
  const std::uint32_t version = device_.read(Reg32::version);
  const std::uint32_t status = device_.read(Reg32::status);
  if (id != gpu::kIdValue || (version >> 16) != HIX_GPU_VERSION_MAJOR ||
      (status & gpu::status::ready) == 0 || (status & gpu::status::error) != 0) {
    return finish(Status::not_ready);
  }
  // Protected mode needs the device locked to this enclave: only then is
  // BAR0 reachable by nobody else (hix-isa §13).
  if (options_.mode == Mode::protected_mode && (status & gpu::status::locked) == 0) {
    return finish(Status::not_ready);
  }
  const std::uint32_t caps = device_.read(Reg32::caps);
  if ((caps & 0xFFu) == 0 || ((caps >> 8) & 0xFFu) < HIX_SESSION_KEY_SLOTS) {
    return finish(Status::not_ready);
  }

  const Area ring{Linear{io.ring.linear}, GuestPhys{io.ring.gpa}, io.ring.bytes};
  const std::uint64_t ring_bytes = std::uint64_t{io.ring_entries} * HIX_VGPU_RING_ENTRY_BYTES;
  if (!power_of_two(io.ring_entries) || io.ring_entries > HIX_GPU_RING_MAX_ENTRIES ||
      ring.gpa.value % HIX_VGPU_RING_ALIGN != 0 || !valid_range(ring.gpa.value, ring.bytes) ||
      ring.bytes < ring_bytes || !memory_.accepts(ring.linear, ring.bytes)) {
    return finish(Status::bad_request);
  }

  // Nothing the untrusted OS planted survives: contexts, VRAM, keys, ring.
  AdminResult r = device_.admin(HIX_GPU_CMD_SCRUB);
  if (!r.ok()) return finish(Status::device);
  if (options_.mode == Mode::protected_mode) {
    r = device_.install_channel_key();
    if (!r.ok()) return finish(Status::device);
  }
  r = device_.start_ring(ring, io.ring_entries);
  if (r.status == HIX_VGPU_INVALID_ARG) return finish(Status::bad_request);
  if (!r.ok()) return finish(Status::device);

  // The identity key (§3.1): drawn here, never leaves the enclave.
  std::array<std::uint8_t, crypto_kx_SEEDBYTES> seed{};
  platform_.random(seed);
  crypto_kx_seed_keypair(pk_.data(), sk_.data(), seed.data());
  sodium_memzero(seed.data(), seed.size());

  ring_ = ring;
  initialised_ = true;
  io.caps = caps;
  std::memcpy(io.enclave_pk, pk_.data(), pk_.size());
  finish(Status::ok);
}

// ---- OPEN (§3.2, §3.3, §4, §6) ----

void Service::open(gpu_enclave_open& io) {
  io.session = 0;
  std::memset(io.enclave_pk, 0, sizeof io.enclave_pk);
  std::memset(io.report, 0, sizeof io.report);
  const Outcome o = open_session(io);
  io.status = to_wire(o.status);
  if (!o.ok()) io.session = 0;
}

Outcome Service::open_session(gpu_enclave_open& io) {
  if (!initialised_) return fail(Status::not_ready);
  if (io.extent_count == 0 || io.extent_count > HIX_SESSION_MAX_EXTENTS || io.reserved != 0) {
    return fail(Status::bad_request);
  }
  // The window: every extent a sane range, apart from the ring area, from
  // each other and from every live session's window (§6).
  std::uint64_t window_bytes = 0;
  for (std::uint32_t i = 0; i < io.extent_count; ++i) {
    const gpu_enclave_area& e = io.extents[i];
    if (!valid_range(e.gpa, e.bytes) || !memory_.accepts(Linear{e.linear}, e.bytes) ||
        window_bytes + e.bytes < window_bytes ||
        overlaps(e.gpa, e.bytes, ring_.gpa.value, ring_.bytes)) {
      return fail(Status::bad_request);
    }
    window_bytes += e.bytes;
    for (std::uint32_t j = 0; j < i; ++j) {
      if (overlaps(e.gpa, e.bytes, io.extents[j].gpa, io.extents[j].bytes)) {
        return fail(Status::bad_request);
      }
    }
    for (const Session& other : sessions_.all()) {
      if (!other.live) continue;
      for (const Extent& x : other.window()) {
        if (overlaps(e.gpa, e.bytes, x.gpa.value, x.bytes)) return fail(Status::bad_request);
      }
    }
  }

  // §3.3: the enclave's side of the key exchange. A client key that is not
  // a usable point is the request's fault.
  Key rx{};
  Key tx{};
  if (crypto_kx_server_session_keys(rx.data(), tx.data(), pk_.data(), sk_.data(), io.client_pk) !=
      0) {
    return fail(Status::bad_request);
  }

  Session* s = sessions_.create();
  if (s == nullptr) {
    sodium_memzero(rx.data(), rx.size());
    sodium_memzero(tx.data(), tx.size());
    return fail(Status::no_resource);
  }
  s->k_c2e = rx;
  s->k_e2c = tx;
  sodium_memzero(rx.data(), rx.size());
  sodium_memzero(tx.data(), tx.size());
  std::array<std::uint8_t, 2 * kKeyBytes> kt_key{};
  std::memcpy(kt_key.data(), s->k_c2e.data(), kKeyBytes);
  std::memcpy(kt_key.data() + kKeyBytes, s->k_e2c.data(), kKeyBytes);
  // reinterpret_cast: the label's ASCII bytes.
  crypto_generichash(s->k_t.data(), s->k_t.size(),
                     reinterpret_cast<const std::uint8_t*>(HIX_SESSION_TENSOR_LABEL),
                     kTensorLabelBytes, kt_key.data(), kt_key.size());
  sodium_memzero(kt_key.data(), kt_key.size());

  const AdminResult ctx = device_.admin(HIX_GPU_CMD_CTX_CREATE);
  if (!ctx.ok() || ctx.r0 == 0) {
    sessions_.release(*s);
    return ctx.ok() ? fail(Status::internal) : device_failure(ctx.status);
  }
  s->ctx = ctx.r0;
  // A session that fails to open leaves nothing behind and is not counted.
  const auto abandon = [this, s] {
    static_cast<void>(device_.admin(HIX_GPU_CMD_CTX_DESTROY, s->ctx));
    sessions_.release(*s);
  };
  const AdminResult slot =
      device_.admin_with_key(HIX_GPU_CMD_KEY_SLOT_INSTALL, s->k_t, s->ctx, HIX_SESSION_TENSOR_SLOT);
  if (!slot.ok()) {
    abandon();
    return device_failure(slot.status);
  }
  s->slots = 1u << HIX_SESSION_TENSOR_SLOT;
  std::uint64_t offset = 0;
  for (std::uint32_t i = 0; i < io.extent_count; ++i) {
    s->extents[i] = Extent{offset, GuestPhys{io.extents[i].gpa}, io.extents[i].bytes};
    offset += io.extents[i].bytes;
  }
  s->extent_count = io.extent_count;

  if (options_.mode == Mode::protected_mode) {
    // §3.2: report_data = SHA-256(label || epk || cpk || nonce || sid LE), 0.
    std::array<std::uint8_t, HIX_REPORT_DATA_SIZE> data{};
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    // reinterpret_cast: the label's ASCII bytes.
    crypto_hash_sha256_update(&h, reinterpret_cast<const std::uint8_t*>(HIX_SESSION_BIND_LABEL),
                              kLabelBytes);
    crypto_hash_sha256_update(&h, pk_.data(), pk_.size());
    crypto_hash_sha256_update(&h, io.client_pk, sizeof io.client_pk);
    crypto_hash_sha256_update(&h, io.nonce, sizeof io.nonce);
    const std::uint32_t sid = s->id;
    std::array<std::uint8_t, 4> sid_le{};
    std::memcpy(sid_le.data(), &sid, sizeof sid);
    crypto_hash_sha256_update(&h, sid_le.data(), sid_le.size());
    crypto_hash_sha256_final(&h, data.data());
    std::array<std::uint8_t, HIX_SESSION_REPORT_BYTES> report{};
    if (!platform_.report(data, report)) {
      abandon();
      return fail(Status::internal);
    }
    std::memcpy(io.report, report.data(), report.size());
  }
  // Plain mode: no report; hixd flags the reply HIX_OPEN_PLAIN (§3.2, §10).

  io.session = s->id;
  std::memcpy(io.enclave_pk, pk_.data(), pk_.size());
  ++stats_.sessions_opened;
  stats_.sessions_live = sessions_.live();
  return Outcome{};
}

// ---- CALL (§5) ----

CallBuffer Service::call(std::span<std::uint8_t> buffer) {
  if (buffer.size() < sizeof(gpu_enclave_call)) return CallBuffer::bad_size;
  gpu_enclave_call c;
  std::memcpy(&c, buffer.data(), sizeof c);
  if (call_buffer_bytes(c.length) > buffer.size()) return CallBuffer::bad_size;
  const std::span<std::uint8_t> body = buffer.subspan(sizeof c);
  const std::span<std::uint8_t> msg = body.first(c.length);

  // A rejection (§5.3) leaves the session as it was and answers unsealed.
  // The buffer is wiped after the header: it may hold decrypted plaintext.
  const auto reject = [&](Status s, std::uint32_t detail = 0) {
    count(Outcome{s, detail});
    c.status = to_wire(s);
    c.detail = detail;
    c.length = 0;
    sodium_memzero(body.data(), body.size());
    std::memcpy(buffer.data(), &c, sizeof c);
    return CallBuffer::ok;
  };

  hix_msg_header h{};
  if (parse_header(msg, HIX_MSG_TO_ENCLAVE, h) != Status::ok) return reject(Status::malformed);
  if (h.session != c.session) return reject(Status::malformed);
  Session* s = sessions_.find(h.session);
  if (s == nullptr) return reject(Status::unknown_session);
  if (!open_in_place(msg, h, s->k_c2e)) return reject(Status::forged);
  const Status counter = check_counter(h.counter, s->recv_expected);
  if (counter != Status::ok) return reject(counter);

  ++s->recv_expected;
  ++stats_.messages_accepted;
  Response r;
  const Outcome o = run_request(*s, h.type, msg.subspan(kMsgHeaderBytes, h.length), r);
  count(o);

  // The response: hix_msg_status, then the data, sealed under K_e2c with
  // the next counter; a SUBMIT response always carries its result.
  const std::size_t plain_len = sizeof(hix_msg_status) + r.length;
  const std::span<std::uint8_t> out = body.first(kMsgOverhead + plain_len);
  sodium_memzero(body.data(), body.size());
  const hix_msg_status st{to_wire(o.status), o.detail};
  std::memcpy(out.data() + kMsgHeaderBytes, &st, sizeof st);
  std::memcpy(out.data() + kMsgHeaderBytes + sizeof st, r.data.data(), r.length);
  sodium_memzero(r.data.data(), r.data.size());
  const hix_msg_header rh = make_header(HIX_MSG_TO_CLIENT, h.type, s->id, s->send_next++,
                                        static_cast<std::uint32_t>(plain_len));
  if (!seal_in_place(out, rh, s->k_e2c)) return reject(Status::internal);  // sizes are ours
  c.status = to_wire(Status::ok);
  c.detail = 0;
  c.length = static_cast<std::uint32_t>(out.size());
  std::memcpy(buffer.data(), &c, sizeof c);

  if (h.type == HIX_MSG_CLOSE && o.ok()) destroy(*s);
  return CallBuffer::ok;
}

Outcome Service::run_request(Session& s, std::uint16_t type, std::span<std::uint8_t> plain,
                             Response& r) {
  switch (type) {
    case HIX_MSG_ALLOC:
      return alloc(s, plain, r);
    case HIX_MSG_FREE:
      return free_buffers(s, plain);
    case HIX_MSG_MODEL_KEY:
      return model_key(s, plain);
    case HIX_MSG_SUBMIT:
      return submit(s, plain, r);
    case HIX_MSG_CLOSE:
      return plain.empty() ? Outcome{} : fail(Status::bad_request);
    default:
      return fail(Status::bad_request);
  }
}

Outcome Service::alloc(Session& s, std::span<const std::uint8_t> plain, Response& r) {
  if (plain.size() < sizeof(hix_msg_alloc)) return fail(Status::bad_request);
  const auto a = load<hix_msg_alloc>(plain, 0);
  if (a.reserved != 0 || a.count == 0 || a.count > HIX_MSG_ALLOC_MAX ||
      plain.size() != sizeof a + std::size_t{a.count} * sizeof(std::uint64_t)) {
    return fail(Status::bad_request);
  }
  for (std::uint32_t i = 0; i < a.count; ++i) {
    if (load<std::uint64_t>(plain, sizeof a + 8 * std::size_t{i}) == 0) {
      return fail(Status::bad_request);
    }
  }
  // All or nothing: a failure frees what this request allocated.
  const auto roll_back = [&](std::uint32_t done) {
    for (std::uint32_t j = 0; j < done; ++j) {
      const std::uint32_t handle = load<std::uint32_t>(r.data, 4 * std::size_t{j});
      static_cast<void>(device_.admin(HIX_GPU_CMD_MEM_FREE, s.ctx, handle));
      s.remove_buffer(handle);
    }
    r.length = 0;
  };
  for (std::uint32_t i = 0; i < a.count; ++i) {
    const std::uint64_t size = load<std::uint64_t>(plain, sizeof a + 8 * std::size_t{i});
    const AdminResult m =
        device_.admin(HIX_GPU_CMD_MEM_ALLOC, s.ctx, static_cast<std::uint32_t>(size),
                      static_cast<std::uint32_t>(size >> 32));
    if (!m.ok()) {
      roll_back(i);
      return device_failure(m.status, i);
    }
    if (!s.add_buffer(m.r0, size)) {
      static_cast<void>(device_.admin(HIX_GPU_CMD_MEM_FREE, s.ctx, m.r0));
      roll_back(i);
      return fail(Status::internal);  // the device named a handle that cannot be
    }
    std::memcpy(r.data.data() + 4 * std::size_t{i}, &m.r0, sizeof m.r0);
  }
  r.length = 4 * std::size_t{a.count};
  return Outcome{};
}

Outcome Service::free_buffers(Session& s, std::span<const std::uint8_t> plain) {
  if (plain.size() < sizeof(hix_msg_free)) return fail(Status::bad_request);
  const auto f = load<hix_msg_free>(plain, 0);
  if (f.reserved != 0 || f.count == 0 || f.count > HIX_MSG_ALLOC_MAX ||
      plain.size() != sizeof f + std::size_t{f.count} * sizeof(std::uint32_t)) {
    return fail(Status::bad_request);
  }
  const auto handle = [&](std::uint32_t i) {
    return load<std::uint32_t>(plain, sizeof f + 4 * std::size_t{i});
  };
  // Every handle the session's and named once, or nothing is freed.
  for (std::uint32_t i = 0; i < f.count; ++i) {
    if (s.find_buffer(handle(i)) == nullptr) return fail(Status::bad_request, i);
    for (std::uint32_t j = 0; j < i; ++j) {
      if (handle(j) == handle(i)) return fail(Status::bad_request, i);
    }
  }
  Outcome o;
  for (std::uint32_t i = 0; i < f.count; ++i) {
    const AdminResult m = device_.admin(HIX_GPU_CMD_MEM_FREE, s.ctx, handle(i));
    s.remove_buffer(handle(i));
    if (!m.ok() && o.ok()) o = fail(Status::device, device_detail(m.status, i));
  }
  return o;
}

Outcome Service::model_key(Session& s, std::span<std::uint8_t> plain) {
  Outcome o;
  hix_msg_model_key mk{};
  if (plain.size() != sizeof mk) {
    o = fail(Status::bad_request);
  } else {
    std::memcpy(&mk, plain.data(), sizeof mk);
    if (mk.reserved != 0 || mk.slot == HIX_SESSION_TENSOR_SLOT || mk.slot >= kKeySlots ||
        s.slot_installed(mk.slot)) {
      // A slot is installed at most once: its output counter never restarts
      // under the same key (§5.2).
      o = fail(Status::bad_request);
    } else {
      const AdminResult m =
          device_.admin_with_key(HIX_GPU_CMD_KEY_SLOT_INSTALL, mk.key, s.ctx, mk.slot);
      if (m.ok()) {
        s.slots |= 1u << mk.slot;
      } else {
        o = device_failure(m.status);
      }
    }
  }
  sodium_memzero(&mk, sizeof mk);
  sodium_memzero(plain.data(), plain.size());
  return o;
}

Outcome Service::submit(Session& s, std::span<std::uint8_t> plain, Response& r) {
  hix_submit_result result{};
  r.length = sizeof result;
  Validation v = validate_cmdbuf(plain, s, options_.mode);
#ifdef HIX_SESSION_TESTING
  if (options_.skip_validation) v = Validation{};
#endif
  if (!v.ok()) {
    const auto reason = static_cast<std::uint32_t>(v.reason);
    if (reason < kReasonCount) ++stats_.validation[reason];
    return fail(Status::validation, validation_detail(v.reason, v.op_index));
  }
  const SubmitOutcome so = device_.submit(s.ctx, plain);
  if (so.kind == SubmitOutcome::Kind::no_room) return fail(Status::no_resource);
  ++stats_.submits;
  // The ids it names are spent once the buffer went to the ring, whatever
  // became of it.
  if (v.highest_input_id != 0) s.highest_input_id = v.highest_input_id;
  result.device_status = so.device_status;
  result.op_index = so.op_index;
  result.fence = so.fence;
  std::memcpy(r.data.data(), &result, sizeof result);
  if (so.kind != SubmitOutcome::Kind::completed || so.device_status != HIX_VGPU_OK) {
    return fail(Status::device, device_detail(so.device_status, so.op_index));
  }
  return Outcome{};
}

// ---- DROP, the end of a session (§4) ----

void Service::drop(gpu_enclave_drop& io) {
  Session* s = sessions_.find(io.session);
  if (s == nullptr) {
    io.status = to_wire(Status::unknown_session);
    return;
  }
  destroy(*s);
  io.status = to_wire(Status::ok);
}

void Service::destroy(Session& s) {
  // The device zeroes the context's VRAM and wipes its key slots.
  static_cast<void>(device_.admin(HIX_GPU_CMD_CTX_DESTROY, s.ctx));
  sessions_.release(s);
  ++stats_.sessions_closed;
  stats_.sessions_live = sessions_.live();
}

void Service::count(const Outcome& o) {
  if (o.ok()) return;
  const auto s = static_cast<std::uint32_t>(o.status);
  if (s < kStatusCount) ++stats_.rejected[s];
  if (o.status == Status::device) ++stats_.device_errors;
}

void Service::stats(gpu_enclave_stats& out) {
  out = stats_;
  // A device that reads failed (its server is gone, hix-gpu spec §10.6)
  // serves nothing until a new enclave locks it again.
  if (initialised_) {
    const std::uint32_t st = device_.read(Reg32::status);
    out.device_lost = (st & gpu::status::error) != 0 || (st & gpu::status::ready) == 0;
  }
}

}  // namespace hix::session
