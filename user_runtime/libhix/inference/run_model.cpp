// One inference through hixd (run_model.hpp).
#include "run_model.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "hex.hpp"
#include "session/tensor_seal.hpp"

namespace hix::inference {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

thread_local client::ErrorKind* g_kind = nullptr;

model::Error err(const std::string& step, const client::Error& e) {
  if (g_kind != nullptr) *g_kind = e.kind;
  return model::fail(step + ": " + e.message);
}

// A piece of the window: its size and, once placed, where it is.
struct Slot {
  std::uint64_t size = 0;  // page-padded
  std::uint64_t offset = 0;
  std::uint64_t gpa = 0;
};

// Places every slot in order inside one extent each; false when the window
// is too fragmented for them.
bool place(std::vector<Slot>& slots, const client::Session& s) {
  std::uint64_t at = 0;
  for (Slot& slot : slots) {
    if (slot.size == 0) continue;  // not in the window (a peer disk's tensor)
    for (;;) {
      if (at + slot.size > s.window_bytes()) return false;
      if (const auto gpa = s.gpa(at, slot.size)) {
        slot.offset = at;
        slot.gpa = *gpa;
        at += slot.size;
        break;
      }
      // Skip to the next extent's start.
      std::uint64_t next = s.window_bytes();
      for (const hix_window_extent& e : s.window()) {
        if (e.offset > at) {
          next = e.offset;
          break;
        }
      }
      at = next;
    }
  }
  return true;
}

std::span<const std::uint8_t> as_u8(std::span<const std::byte> b) {
  // reinterpret_cast: bytes viewed as the client API's unsigned bytes.
  return {reinterpret_cast<const std::uint8_t*>(b.data()), b.size()};
}

template <class T>
std::span<const std::uint8_t> bytes_of_vector(const std::vector<T>& v) {
  // reinterpret_cast: a vector of integers as its little-endian bytes.
  return {reinterpret_cast<const std::uint8_t*>(v.data()), v.size() * sizeof(T)};
}

}  // namespace

model::Result<RunResult> run(const RunOptions& o, client::ErrorKind* kind) {
  g_kind = kind;
  if (o.input == nullptr || o.prompt.empty() || o.generate == 0) {
    return model::fail("run: a model, a prompt and at least one token to generate");
  }
  const model::ModelConfig& cfg = o.input->config;
  for (const std::int32_t t : o.prompt) {
    if (t < 0 || static_cast<std::uint32_t>(t) >= cfg.vocab) {
      return model::fail("prompt token " + std::to_string(t) + " outside the vocabulary of " +
                         std::to_string(cfg.vocab));
    }
  }
  auto plan = model::make_plan(cfg, o.runtime);
  if (!plan) return plan.error();
  const model::WeightSource* source = o.input->weights.get();
  if (source != nullptr) {
    if (auto c = model::check_source(plan->layout, *source); !c) return c.error();
  }
  const bool sealed = !o.expect.plain;
  const bool from_peer = o.peer_disk_index.has_value();
  const bool from_disk = !from_peer && o.disk_index.has_value();
  const bool from_file = !from_peer && !from_disk && !o.put_file.empty();
  if ((from_peer || from_disk || from_file) && (!o.disk_file || o.disk_file->sealed != sealed)) {
    return model::fail(std::string("the weights file is ") +
                       (o.disk_file && o.disk_file->sealed ? "sealed" : "plain") +
                       ", the session is " + (sealed ? "protected" : "plain"));
  }
  if (!from_peer && !from_disk && !from_file && source == nullptr) {
    return model::fail("run: no weights (a weight source, a disk or a sealed file)");
  }
  if (o.disk_file && o.disk_file->tensors.size() != plan->layout.tensors.size()) {
    return model::fail("the weights file has " + std::to_string(o.disk_file->tensors.size()) +
                       " tensors, the model's layout " +
                       std::to_string(plan->layout.tensors.size()));
  }

  RunResult r;
  r.plain = !sealed;
  r.load_path = from_peer ? "peer" : from_disk ? "disk" : (from_file ? "file" : "put");
  const auto& tensors = plan->layout.tensors;
  const std::size_t n = tensors.size();

  // The window: every weight (as stored), the prompt, the tokens and logits out.
  model::GenerateRequest gen;
  gen.prompt_len = static_cast<std::uint32_t>(o.prompt.size());
  gen.n_new = o.generate;
  gen.sealed = sealed;
  gen.key_slot = HIX_SESSION_TENSOR_SLOT;
  std::vector<Slot> slots(n + 3);
  for (std::size_t i = 0; i < n; ++i) {
    slots[i].size = from_peer ? 0 : padded(stored_size(tensors[i].bytes(), sealed));
  }
  const std::uint64_t prompt_bytes = o.prompt.size() * 4;
  const std::uint64_t tokens_bytes = model::tokens_out_bytes(gen);
  const std::uint64_t logits_bytes = model::logits_out_bytes(*plan);
  slots[n].size = padded(stored_size(prompt_bytes, sealed));
  slots[n + 1].size = padded(stored_size(tokens_bytes, sealed));
  slots[n + 2].size = padded(stored_size(logits_bytes, sealed));
  std::uint64_t need = 0;
  std::uint64_t largest = 0;
  for (const Slot& s : slots) {
    need += s.size;
    largest = std::max(largest, s.size);
  }

  // Connect, attest and open; a window too fragmented for the slots is
  // opened again, larger (a new connection: one session per connection).
  std::optional<client::Session> session;
  for (const std::uint64_t slack : {largest, 4 * largest, 16 * largest}) {
    auto t0 = Clock::now();
    auto c = client::Client::connect(o.port, o.host);
    if (!c) return err("connect", c.error());
    r.t.connect_ms = ms_since(t0);
    t0 = Clock::now();
    auto info = c->info();
    if (!info) return err("INFO", info.error());
    r.t.info_ms = ms_since(t0);
    if (info->plain != o.expect.plain) {
      if (kind != nullptr) *kind = client::ErrorKind::attestation;
      return model::fail(std::string("hixd runs in ") + (info->plain ? "plain" : "protected") +
                         " mode, but " + (o.expect.plain ? "plain" : "protected") +
                         " mode was asked for");
    }
    if (from_disk && *o.disk_index >= info->disk_bytes.size()) {
      return model::fail("hixd has no disk " + std::to_string(*o.disk_index));
    }
    t0 = Clock::now();
    auto s = c->open(need + slack, o.expect);
    if (!s && slack != largest && s.error().status == HIX_SESSION_NO_RESOURCE) {
      // A larger window for the same tensors: the extents are too small.
      return model::fail("the staging window's extents are too small for the largest tensor (" +
                         std::to_string(largest) +
                         " bytes must lie in one physically contiguous extent; hix.ko "
                         "promises 4 MiB)");
    }
    if (!s) return err("attest and open", s.error());
    r.t.attest_open_ms = ms_since(t0);
    if (place(slots, *s)) {
      session.emplace(std::move(*s));
      break;
    }
    (void)s->close();
  }
  if (!session) return model::fail("the staging window is too fragmented for the model's tensors");
  client::Session& s = *session;
  if (o.on_attested) o.on_attested(s, r.t.connect_ms + r.t.info_ms + r.t.attest_open_ms);
  r.session = s.id();
  r.window_bytes = s.window_bytes();
  r.window_extents = s.window().size();

  // ALLOC every buffer of the plan, in order.
  std::vector<std::uint64_t> sizes;
  for (const auto& b : plan->buffers) sizes.push_back(b.bytes);
  auto t0 = Clock::now();
  auto handles = s.alloc(sizes);
  if (!handles) return err("ALLOC", handles.error());
  r.t.alloc_ms = ms_since(t0);

  // The per-request overhead, the same way in both modes: one small sealed
  // request with one cheap device command behind it (FREE of a buffer
  // allocated for the purpose).
  const std::uint64_t probe_size = 256;
  auto probe = s.alloc(std::span(&probe_size, 1));
  if (!probe) return err("ALLOC probe", probe.error());
  t0 = Clock::now();
  if (auto f = s.free(*probe); !f) return err("FREE probe", f.error());
  r.t.request_ms = ms_since(t0);

  // The model key: fresh, or the one the weights file was sealed under.
  client::Key model_key{};
  if (sealed) {
    if (from_peer || from_disk || from_file) {
      model_key = o.disk_file->model_key;
    } else {
      client::random_bytes(model_key);
    }
    t0 = Clock::now();
    auto k = s.model_key(kModelKeySlot, model_key);
    if (!k) return err("MODEL_KEY", k.error());
    r.t.model_key_ms = ms_since(t0);
  }

  // The weights into the window.
  std::vector<std::uint64_t> gpas(n);
  for (std::size_t i = 0; i < n; ++i) gpas[i] = slots[i].gpa;
  std::size_t largest_tensor = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (tensors[i].bytes() > tensors[largest_tensor].bytes()) largest_tensor = i;
  }
  r.weight_name = tensors[largest_tensor].name;
  if (from_peer) {
    // Nothing to move: the load program names each tensor's place on the
    // peer disk, and the device reads it there.
    for (std::size_t i = 0; i < n; ++i) {
      gpas[i] = o.disk_file->tensors[i].offset;
      r.load_bytes += o.disk_file->tensors[i].stored;
    }
  } else if (from_disk) {
    const WeightsFile& wf = *o.disk_file;
    t0 = Clock::now();
    for (std::size_t i = 0; i < n;) {
      // A run of tensors laid out alike on the disk and in the window.
      std::size_t j = i + 1;
      std::uint64_t len = padded(wf.tensors[i].stored);
      while (j < n && slots[j].offset == slots[i].offset + len &&
             wf.tensors[j].offset == wf.tensors[i].offset + len &&
             len < (std::uint64_t{64} << 20)) {
        len += padded(wf.tensors[j].stored);
        ++j;
      }
      auto l = s.load({.disk = *o.disk_index,
                       .disk_offset = wf.tensors[i].offset,
                       .window_offset = slots[i].offset,
                       .length = len});
      if (!l) return err("LOAD " + tensors[i].name, l.error());
      r.t.disk_ms += static_cast<double>(l->nanoseconds) / 1e6;
      r.load_bytes += l->bytes;
      ++r.load_requests;
      i = j;
    }
    r.t.transfer_ms = ms_since(t0);
  } else if (from_file) {
    // The sealed bytes as the file holds them, tensor by tensor.
    const WeightsFile& wf = *o.disk_file;
    const int fd = ::open(o.put_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return model::fail(o.put_file + ": " + std::strerror(errno));
    t0 = Clock::now();
    std::vector<std::uint8_t> buf;
    constexpr std::uint64_t kPutMax = std::uint64_t{8} << 20;
    for (std::size_t i = 0; i < n; ++i) {
      for (std::uint64_t at = 0; at < wf.tensors[i].stored; at += kPutMax) {
        const std::uint64_t len = std::min<std::uint64_t>(kPutMax, wf.tensors[i].stored - at);
        buf.resize(len);
        const auto got =
            ::pread(fd, buf.data(), len, static_cast<off_t>(wf.tensors[i].offset + at));
        if (got != static_cast<ssize_t>(len)) {
          ::close(fd);
          return model::fail(o.put_file + ": " + tensors[i].name + " is cut short");
        }
        auto p = s.put(slots[i].offset + at, buf);
        if (!p) {
          ::close(fd);
          return err("PUT " + tensors[i].name, p.error());
        }
        r.load_bytes += len;
        ++r.load_requests;
      }
    }
    ::close(fd);
    r.t.transfer_ms = ms_since(t0);
  } else {
    // Seal (or copy) every tensor into an image of the window's weight
    // part, then PUT it in runs of contiguous slots.
    const std::uint64_t image_end = n == 0 ? 0 : slots[n - 1].offset + slots[n - 1].size;
    std::vector<std::uint8_t> image(image_end, 0);
    t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      auto w = model::device_tensor_bytes(plan->layout, i, *source);
      if (!w) return model::fail(tensors[i].name + ": " + w.why());
      const auto plain = as_u8(*w);
      if (i == largest_tensor) {
        const auto head = plain.first(std::min<std::size_t>(64, plain.size()));
        r.weight_bytes.assign(head.begin(), head.end());
      }
      const std::span<std::uint8_t> dst(image.data() + slots[i].offset,
                                        stored_size(plain.size(), sealed));
      if (sealed) {
        if (!client::seal_tensor(dst, plain, {kModelKeySlot, kFirstWeightId + i}, model_key)) {
          return model::fail(tensors[i].name + ": cannot seal");
        }
        sodium_memzero(w->data(), w->size());
      } else {
        std::copy(plain.begin(), plain.end(), dst.begin());
      }
    }
    r.t.seal_ms = ms_since(t0);
    t0 = Clock::now();
    constexpr std::uint64_t kPutMax = std::uint64_t{8} << 20;
    for (std::uint64_t at = 0; at < image.size(); at += kPutMax) {
      const std::uint64_t len = std::min<std::uint64_t>(kPutMax, image.size() - at);
      auto p = s.put(at, std::span<const std::uint8_t>(image).subspan(at, len));
      if (!p) return err("PUT weights", p.error());
      r.load_bytes += len;
      ++r.load_requests;
    }
    r.t.transfer_ms = ms_since(t0);
  }
  sodium_memzero(model_key.data(), model_key.size());
  if ((from_peer || from_disk || from_file) && source != nullptr) {
    auto w = model::device_tensor_bytes(plan->layout, largest_tensor, *source);
    if (!w) return w.error();
    const auto head = as_u8(*w).first(std::min<std::size_t>(64, w->size()));
    r.weight_bytes.assign(head.begin(), head.end());
  }

  // The load program(s).
  model::LoadRequest load_request{gpas, sealed, kModelKeySlot, kFirstWeightId};
  load_request.peer_disk = o.peer_disk_index;
  auto load = model::build_load_program(*plan, *handles, load_request);
  if (!load) return model::fail("load program: " + load.why());
  t0 = Clock::now();
  for (const auto& cb : *load) {
    auto sub = s.submit(cb);
    if (!sub) return err("SUBMIT load program", sub.error());
  }
  r.t.load_submit_ms = ms_since(t0);
  r.t.load_ms = r.t.transfer_ms + r.t.load_submit_ms;
  r.t.load_mb_s = r.t.load_ms > 0 ? static_cast<double>(r.load_bytes) / 1e3 / r.t.load_ms : 0;

  // The prompt in, the generate program(s), the outputs back.
  const Slot& ps = slots[n];
  const Slot& ts = slots[n + 1];
  const Slot& ls = slots[n + 2];
  const bool rounds = o.round_tokens != 0;
  gen.sample = o.sample;
  gen.temperature = o.temperature;
  gen.top_k = o.top_k;
  gen.seed = o.seed;
  gen.eos = o.eos;
  if (rounds) gen.n_new = 1;
  gen.prompt_gpa = ps.gpa;
  gen.prompt_tensor_id = 1;
  gen.tokens_gpa = ts.gpa;
  gen.tokens_tensor_id = client::kDeviceTensorBit | 1;
  const bool logits_out = o.want_logits && !rounds;
  if (logits_out) {
    gen.logits_gpa = ls.gpa;
    gen.logits_tensor_id = client::kDeviceTensorBit | 2;
  }
  auto program = model::build_generate_program(*plan, *handles, gen);
  if (!program) return model::fail("generate program: " + program.why());
  const std::span<const std::uint8_t> prompt = bytes_of_vector(o.prompt);
  r.prompt_bytes.assign(prompt.begin(), prompt.end());

  t0 = Clock::now();
  std::vector<std::uint8_t> sealed_prompt(stored_size(prompt.size(), sealed));
  if (sealed) {
    if (!client::seal_tensor(sealed_prompt, prompt, {HIX_SESSION_TENSOR_SLOT, gen.prompt_tensor_id},
                             s.tensor_key())) {
      return model::fail("cannot seal the prompt");
    }
  } else {
    std::copy(prompt.begin(), prompt.end(), sealed_prompt.begin());
  }
  if (auto p = s.put(ps.offset, sealed_prompt); !p) return err("PUT prompt", p.error());

  // One program's tokens out: `count` i32 at the tokens slot, sealed with `id`.
  const auto fetch_tokens = [&](std::uint64_t count, client::TensorSeal seal,
                                std::vector<std::int32_t>& out) -> model::Check {
    auto tok = s.get({.offset = ts.offset, .length = stored_size(count * 4, sealed)});
    if (!tok) return err("GET tokens", tok.error());
    out.assign(count, -1);
    // reinterpret_cast: the token ids' storage as the opener's output bytes.
    const std::span<std::uint8_t> dst(reinterpret_cast<std::uint8_t*>(out.data()), count * 4);
    if (sealed) {
      if (!client::open_tensor(dst, *tok, seal, s.tensor_key())) {
        return model::fail("the tokens do not open under K_t (forged or misplaced output)");
      }
    } else {
      std::copy(tok->begin(), tok->end(), dst.begin());
    }
    return model::Unit{};
  };
  const auto stopped = [&](std::int32_t t) { return t < 0 || (o.eos && t == *o.eos); };

  const auto t_sub = Clock::now();
  if (auto sub = s.submit(*program); !sub) return err("SUBMIT generate program", sub.error());
  r.t.generate_submit_ms = ms_since(t_sub);
  ++r.t.rounds;
  if (auto f = fetch_tokens(tokens_out_bytes(gen) / 4,
                            {HIX_SESSION_TENSOR_SLOT, gen.tokens_tensor_id}, r.tokens);
      !f) {
    return f.error();
  }
  const std::uint32_t prompt_len = gen.prompt_len;
  r.t.first_token_ms = ms_since(t0);
  const auto t_first = Clock::now();
  if (o.on_tokens) {
    std::size_t end = prompt_len;
    while (end < r.tokens.size() && r.tokens[end] >= 0) ++end;
    o.on_tokens(std::span<const std::int32_t>(r.tokens).subspan(prompt_len, end - prompt_len));
  }
  if (rounds) {
    // Later rounds until `generate` tokens or a stop.
    std::uint32_t have = prompt_len + 1;
    std::uint64_t id = 1;
    std::vector<std::int32_t> got;
    while (have < prompt_len + o.generate && !stopped(r.tokens.back())) {
      model::ContinueRequest c;
      c.base = gen;
      c.from = have;
      c.n_new = std::min(o.round_tokens, prompt_len + o.generate - have);
      c.tokens_gpa = ts.gpa;
      c.tokens_tensor_id = client::kDeviceTensorBit | ++id;
      auto next = model::build_continue_program(*plan, *handles, c);
      if (!next) return model::fail("continue program: " + next.why());
      const auto t_round = Clock::now();
      if (auto sub = s.submit(*next); !sub) return err("SUBMIT continue program", sub.error());
      r.t.generate_submit_ms += ms_since(t_round);
      ++r.t.rounds;
      if (auto f = fetch_tokens(c.n_new, {HIX_SESSION_TENSOR_SLOT, c.tokens_tensor_id}, got); !f)
        return f.error();
      std::size_t end = 0;
      while (end < got.size() && got[end] >= 0) ++end;
      r.tokens.insert(r.tokens.end(), got.begin(), got.end());
      if (o.on_tokens) o.on_tokens(std::span<const std::int32_t>(got).first(end));
      have += c.n_new;
    }
    r.tokens.resize(std::uint64_t{prompt_len} + o.generate, -1);
  }
  std::size_t produced = 0;
  while (prompt_len + produced < r.tokens.size() && r.tokens[prompt_len + produced] >= 0) {
    ++produced;
  }
  const double after_first_s = std::chrono::duration<double>(Clock::now() - t_first).count();
  if (produced > 1 && after_first_s > 0) {
    r.t.tokens_per_s = static_cast<double>(produced - 1) / after_first_s;
  }
  if (logits_out) {
    auto lg = s.get({.offset = ls.offset, .length = stored_size(logits_bytes, sealed)});
    if (!lg) return err("GET logits", lg.error());
    r.last_logits.resize(logits_bytes / 4);
    // reinterpret_cast: the logits' storage as the opener's output bytes.
    const std::span<std::uint8_t> lg_out(reinterpret_cast<std::uint8_t*>(r.last_logits.data()),
                                         logits_bytes);
    if (sealed) {
      if (!client::open_tensor(lg_out, *lg, {HIX_SESSION_TENSOR_SLOT, gen.logits_tensor_id},
                               s.tensor_key())) {
        return model::fail("the logits do not open under K_t (forged or misplaced output)");
      }
    } else {
      std::copy(lg->begin(), lg->end(), lg_out.begin());
    }
  }
  r.t.generate_ms = ms_since(t0);
  const auto tb = bytes_of_vector(r.tokens);
  r.token_bytes.assign(tb.begin(), tb.end());

  if (o.before_close) o.before_close(r);
  t0 = Clock::now();
  if (auto c = s.close(); !c) return err("CLOSE", c.error());
  r.t.close_ms = ms_since(t0);
  return r;
}

std::string result_json(const RunResult& r, const std::string& model_name, bool secrets) {
  std::string j = "{\n";
  j += "  \"mode\": \"" + std::string(r.plain ? "plain" : "protected") + "\",\n";
  j += "  \"model\": " + model::json_quote(model_name) + ",\n";
  j += "  \"session\": " + std::to_string(r.session) + ",\n";
  j += "  \"window_bytes\": " + std::to_string(r.window_bytes) + ",\n";
  j += "  \"window_extents\": " + std::to_string(r.window_extents) + ",\n";
  j += "  \"load_path\": \"" + r.load_path + "\",\n";
  j += "  \"load_bytes\": " + std::to_string(r.load_bytes) + ",\n";
  j += "  \"load_requests\": " + std::to_string(r.load_requests) + ",\n";
  const auto list = [](const auto& v, std::size_t from) {
    std::string s = "[";
    for (std::size_t i = from; i < v.size(); ++i) {
      if (i != from) s += ", ";
      if constexpr (std::is_floating_point_v<std::decay_t<decltype(v[i])>>) {
        s += model::json_number(v[i]);
      } else {
        s += std::to_string(v[i]);
      }
    }
    return s + "]";
  };
  const std::size_t prompt_len = r.prompt_bytes.size() / 4;
  j += "  \"tokens\": " + list(r.tokens, 0) + ",\n";
  j += "  \"generated\": " + list(r.tokens, std::min(prompt_len, r.tokens.size())) + ",\n";
  j += "  \"last_logits\": " + list(r.last_logits, 0) + ",\n";
  const Timings& t = r.t;
  j += "  \"timings\": {\"connect_ms\": " + model::json_number(t.connect_ms) +
       ", \"info_ms\": " + model::json_number(t.info_ms) +
       ", \"attest_open_ms\": " + model::json_number(t.attest_open_ms) +
       ", \"alloc_ms\": " + model::json_number(t.alloc_ms) +
       ", \"request_overhead_ms\": " + model::json_number(t.request_ms) +
       ", \"model_key_ms\": " + model::json_number(t.model_key_ms) +
       ", \"seal_ms\": " + model::json_number(t.seal_ms) +
       ", \"transfer_ms\": " + model::json_number(t.transfer_ms) +
       ", \"disk_ms\": " + model::json_number(t.disk_ms) +
       ", \"load_submit_ms\": " + model::json_number(t.load_submit_ms) +
       ", \"load_ms\": " + model::json_number(t.load_ms) +
       ", \"load_mb_s\": " + model::json_number(t.load_mb_s) +
       ", \"generate_ms\": " + model::json_number(t.generate_ms) +
       ", \"generate_submit_ms\": " + model::json_number(t.generate_submit_ms) +
       ", \"first_token_ms\": " + model::json_number(t.first_token_ms) +
       ", \"tokens_per_s\": " + model::json_number(t.tokens_per_s) +
       ", \"rounds\": " + std::to_string(t.rounds) +
       ", \"close_ms\": " + model::json_number(t.close_ms) + "}";
  if (secrets) {
    j += ",\n  \"secrets\": {\"prompt\": \"" + to_hex(r.prompt_bytes) + "\", \"weight\": \"" +
         to_hex(r.weight_bytes) + "\", \"weight_name\": \"" + r.weight_name + "\", \"tokens\": \"" +
         to_hex(r.token_bytes) + "\"}";
  }
  return j + "\n}\n";
}

}  // namespace hix::inference
