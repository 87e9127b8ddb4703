// Names of hix-gpu status codes, for logs and test messages.
#include "status.hpp"

namespace hix::vgpu {

std::string_view to_string(Status s) {
  switch (s) {
    case Status::ok:
      return "OK";
    case Status::invalid_arg:
      return "INVALID_ARG";
    case Status::bad_context:
      return "BAD_CONTEXT";
    case Status::bad_handle:
      return "BAD_HANDLE";
    case Status::out_of_bounds:
      return "OUT_OF_BOUNDS";
    case Status::no_memory:
      return "NO_MEMORY";
    case Status::no_resource:
      return "NO_RESOURCE";
    case Status::bad_key_slot:
      return "BAD_KEY_SLOT";
    case Status::auth_failed:
      return "AUTH_FAILED";
    case Status::dma_denied:
      return "DMA_DENIED";
    case Status::bad_opcode:
      return "BAD_OPCODE";
    case Status::bad_format:
      return "BAD_FORMAT";
    case Status::bad_dtype:
      return "BAD_DTYPE";
    case Status::bad_shape:
      return "BAD_SHAPE";
    case Status::denied_protected:
      return "DENIED_PROTECTED";
    case Status::index_out_of_range:
      return "INDEX_OUT_OF_RANGE";
    case Status::replay:
      return "REPLAY";
    case Status::limit:
      return "LIMIT";
    case Status::ring_stopped:
      return "RING_STOPPED";
    case Status::internal:
      return "INTERNAL";
    case Status::unavailable:
      return "UNAVAILABLE";
  }
  return "UNKNOWN";
}

}  // namespace hix::vgpu
