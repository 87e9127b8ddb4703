// Reading a .hixm file (docs/specs/hixm.md §2-§6): the manifest opened and
// checked with the model key, every chunk verified naming the first bad
// tensor and chunk, and the layout its config.json gives compared with its
// table.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "device_layout.hpp"
#include "manifest.hpp"
#include "model_key.hpp"

namespace hix::hixm {

// `prefix` is the file from byte 0, at least the header and the sealed
// manifest: parses the header, checks the key's model id, opens the
// manifest (AD = the header) and parses it. The file's length is not known
// here; read_manifest checks it.
Result<Manifest> open_manifest(std::span<const std::uint8_t> prefix, const ModelKey& key);
// The same from a file, first checking its length against the header.
// Errors start with the path.
Result<Manifest> read_manifest(const std::string& path, const ModelKey& key);

// Opens every chunk of every tensor of `path` with the model key (threads:
// 0 = all cores) and names the first failure in file order: tensor index,
// name, chunk, file offset and what is wrong with it.
Check verify_tensors(const std::string& path, const Manifest& manifest, const ModelKey& key,
                     unsigned threads = 0);

// Tensor `index`'s sealed bytes as they are in the file (for LOAD/PUT or
// client::open_tensor with {key_slot, tensor_id}).
Result<std::vector<std::uint8_t>> read_sealed_tensor(const std::string& path,
                                                     const Manifest& manifest, std::size_t index);

// The device layout the manifest's config.json gives for its weight dtype,
// checked to match the manifest's table entry for entry (name, shape,
// dtype, bytes).
Result<model::DeviceLayout> check_layout(const Manifest& manifest);

}  // namespace hix::hixm
