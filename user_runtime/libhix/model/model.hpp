// The model compiler (docs/architecture.md §6.3): safetensors checkpoints
// and configs in, device weight layout and hix-gpu command buffers out.
//
// Typical use:
//   auto cfg = preset("llama-1b");                 // or load_config_json()
//   SeededSource src(*cfg, {});                    // or SafetensorsSource::open()
//   auto plan = make_plan(*cfg, RuntimeOptions{});
//   check_source(plan->layout, src);
//   // allocate plan->buffers (handles in order); per layout tensor i:
//   //   device_tensor_bytes(plan->layout, i, src) -> seal with id first+i
//   auto load = build_load_program(*plan, handles, {gpas, true, slot, first});
//   auto gen = build_generate_program(*plan, handles, request);
#pragma once

#include "checkpoint.hpp"
#include "device_layout.hpp"
#include "json.hpp"
#include "model_config.hpp"
#include "program.hpp"
#include "result.hpp"
#include "safetensors.hpp"
#include "weight_source.hpp"
