// The test client's model and its weights file (model_input.hpp).
#include "model_input.hpp"

#include <sodium.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "hex.hpp"
#include "session/tensor_seal.hpp"

namespace hix::inference {
namespace {

const char* dtype_name(std::uint8_t dt) {
  return dt == HIX_VGPU_DT_BF16 ? "bf16" : "f32";
}

}  // namespace

model::Result<ModelInput> open_preset(const std::string& preset, std::uint64_t seed) {
  auto cfg = model::preset(preset);
  if (!cfg) return model::fail("preset " + preset + ": " + cfg.why());
  model::SeededOptions o;
  o.seed = seed;
  return ModelInput{*cfg, std::make_unique<model::SeededSource>(*cfg, o),
                    preset + " seed " + std::to_string(seed)};
}

model::Result<ModelInput> open_checkpoint(const std::string& dir) {
  auto cfg = model::load_config_json(dir + "/config.json");
  if (!cfg) return model::fail(dir + "/config.json: " + cfg.why());
  auto src = model::SafetensorsSource::open(dir + "/model.safetensors");
  if (!src) return model::fail(dir + "/model.safetensors: " + src.why());
  return ModelInput{*cfg, std::move(*src), dir};
}

WeightsFile::~WeightsFile() {
  sodium_memzero(model_key.data(), model_key.size());
}

std::uint64_t stored_size(std::uint64_t bytes, bool sealed) {
  return sealed ? client::sealed_size(bytes) : bytes;
}

std::uint64_t padded(std::uint64_t bytes) {
  return (bytes + kFileAlign - 1) / kFileAlign * kFileAlign;
}

model::Result<WeightsFile> write_weights_file(const std::string& path, const model::Plan& plan,
                                              const model::WeightSource& source,
                                              const std::string& model_name, bool sealed) {
  if (auto c = model::check_source(plan.layout, source); !c) return c.error();
  WeightsFile wf;
  wf.sealed = sealed;
  wf.model = model_name;
  wf.weight_dtype = plan.layout.dtype;
  if (sealed) client::random_bytes(wf.model_key);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return model::fail(path + ": cannot create");
  std::uint64_t at = 0;
  std::vector<std::uint8_t> stored;
  for (std::size_t i = 0; i < plan.layout.tensors.size(); ++i) {
    const model::DeviceTensor& t = plan.layout.tensors[i];
    auto plain = model::device_tensor_bytes(plan.layout, i, source);
    if (!plain) return model::fail(t.name + ": " + plain.why());
    // reinterpret_cast: the tensor's bytes as the sealer's input.
    const std::span<const std::uint8_t> p(reinterpret_cast<const std::uint8_t*>(plain->data()),
                                          plain->size());
    const std::uint64_t size = stored_size(p.size(), sealed);
    stored.assign(padded(size), 0);
    if (sealed) {
      if (!client::seal_tensor(std::span(stored).first(size), p,
                               {static_cast<std::uint8_t>(wf.key_slot), wf.first_tensor_id + i},
                               wf.model_key)) {
        return model::fail(t.name + ": cannot seal");
      }
      sodium_memzero(plain->data(), plain->size());
    } else {
      std::copy(p.begin(), p.end(), stored.begin());
    }
    // reinterpret_cast: ofstream writes chars.
    out.write(reinterpret_cast<const char*>(stored.data()),
              static_cast<std::streamsize>(stored.size()));
    wf.tensors.push_back({t.name, p.size(), size, at});
    at += stored.size();
  }
  out.close();
  if (!out) return model::fail(path + ": write failed");
  wf.file_bytes = at;

  std::ostringstream js;
  js << "{\n  \"format\": \"hix-session-client weights 1\",\n";
  js << "  \"model\": " << model::json_quote(wf.model) << ",\n";
  js << "  \"sealed\": " << (sealed ? "true" : "false") << ",\n";
  js << "  \"weight_dtype\": \"" << dtype_name(wf.weight_dtype) << "\",\n";
  js << "  \"key_slot\": " << wf.key_slot << ",\n";
  js << "  \"first_tensor_id\": " << wf.first_tensor_id << ",\n";
  js << "  \"model_key\": \"" << (sealed ? to_hex(wf.model_key) : "") << "\",\n";
  js << "  \"file_bytes\": " << wf.file_bytes << ",\n  \"tensors\": [";
  for (std::size_t i = 0; i < wf.tensors.size(); ++i) {
    const WeightsFileTensor& t = wf.tensors[i];
    js << (i == 0 ? "\n" : ",\n") << "    {\"name\": " << model::json_quote(t.name)
       << ", \"bytes\": " << t.bytes << ", \"stored\": " << t.stored << ", \"offset\": " << t.offset
       << "}";
  }
  js << "\n  ]\n}\n";
  std::ofstream side(path + ".json", std::ios::trunc);
  side << js.str();
  side.close();
  if (!side) return model::fail(path + ".json: write failed");
  return wf;
}

model::Result<WeightsFile> read_weights_sidecar(const std::string& path, const model::Plan& plan) {
  const std::string side = path + ".json";
  std::ifstream in(side);
  if (!in) return model::fail(side + ": cannot open (write it with seal-weights)");
  std::stringstream ss;
  ss << in.rdbuf();
  auto doc = model::parse_json(ss.str());
  if (!doc) return model::fail(side + ": " + doc.why());
  const auto str = [&](const char* k) -> const model::JsonValue* {
    const model::JsonValue* v = doc->find(k);
    return v != nullptr && v->kind == model::JsonValue::Kind::string ? v : nullptr;
  };
  const auto num = [&](const model::JsonValue& o, const char* k) -> std::optional<std::uint64_t> {
    const model::JsonValue* v = o.find(k);
    if (v == nullptr || !v->is_uint) return std::nullopt;
    return v->uint;
  };
  WeightsFile wf;
  const model::JsonValue* sealed = doc->find("sealed");
  const model::JsonValue* tensors = doc->find("tensors");
  const auto slot = num(*doc, "key_slot");
  const auto first = num(*doc, "first_tensor_id");
  const auto fbytes = num(*doc, "file_bytes");
  if (sealed == nullptr || sealed->kind != model::JsonValue::Kind::boolean || !slot || !first ||
      !fbytes || tensors == nullptr || tensors->kind != model::JsonValue::Kind::array ||
      str("model") == nullptr || str("weight_dtype") == nullptr || str("model_key") == nullptr) {
    return model::fail(side + ": not a seal-weights sidecar");
  }
  wf.sealed = sealed->boolean;
  wf.key_slot = static_cast<std::uint32_t>(*slot);
  wf.first_tensor_id = *first;
  wf.file_bytes = *fbytes;
  wf.model = str("model")->string;
  if (str("weight_dtype")->string != dtype_name(plan.layout.dtype)) {
    return model::fail(side + ": weights are " + str("weight_dtype")->string + ", the plan wants " +
                       dtype_name(plan.layout.dtype));
  }
  wf.weight_dtype = plan.layout.dtype;
  if (wf.sealed) {
    const auto key = from_hex(str("model_key")->string);
    if (!key || key->size() != wf.model_key.size()) return model::fail(side + ": bad model_key");
    std::copy(key->begin(), key->end(), wf.model_key.begin());
  }
  if (tensors->array.size() != plan.layout.tensors.size()) {
    return model::fail(side + ": " + std::to_string(tensors->array.size()) +
                       " tensors, the plan has " + std::to_string(plan.layout.tensors.size()));
  }
  for (std::size_t i = 0; i < tensors->array.size(); ++i) {
    const model::JsonValue& t = tensors->array[i];
    const model::JsonValue* name = t.find("name");
    const auto bytes = num(t, "bytes");
    const auto stored = num(t, "stored");
    const auto offset = num(t, "offset");
    const model::DeviceTensor& want = plan.layout.tensors[i];
    if (name == nullptr || name->string != want.name || !bytes || *bytes != want.bytes() ||
        !stored || *stored != stored_size(*bytes, wf.sealed) || !offset ||
        *offset % kFileAlign != 0 || *offset + padded(*stored) > wf.file_bytes) {
      return model::fail(side + ": tensor " + std::to_string(i) + " does not match the plan's " +
                         want.name);
    }
    wf.tensors.push_back({name->string, *bytes, *stored, *offset});
  }
  return wf;
}

}  // namespace hix::inference
