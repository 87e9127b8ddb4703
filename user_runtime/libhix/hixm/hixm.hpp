// Sealed models at rest: the .hixm file format (docs/specs/hixm.md). The
// writer seals a checkpoint under a fresh model key; the reader opens and
// checks the manifest and the tensors with it; the key file keeps it.
#pragma once

#include "manifest.hpp"
#include "model_key.hpp"
#include "reader.hpp"
#include "writer.hpp"
