// Names of the hix-session status codes and validation reasons (spec §8).
#include "hix/session/status.hpp"

namespace hix::session {

const char* to_string(Status s) {
  switch (s) {
    case Status::ok:
      return "OK";
    case Status::malformed:
      return "MALFORMED";
    case Status::unknown_session:
      return "UNKNOWN_SESSION";
    case Status::forged:
      return "FORGED";
    case Status::replayed:
      return "REPLAYED";
    case Status::reordered:
      return "REORDERED";
    case Status::bad_request:
      return "BAD_REQUEST";
    case Status::validation:
      return "VALIDATION";
    case Status::device:
      return "DEVICE";
    case Status::no_resource:
      return "NO_RESOURCE";
    case Status::busy:
      return "BUSY";
    case Status::out_of_range:
      return "OUT_OF_RANGE";
    case Status::io_error:
      return "IO_ERROR";
    case Status::not_ready:
      return "NOT_READY";
    case Status::internal:
      return "INTERNAL";
  }
  return "unknown";
}

const char* to_string(Reason r) {
  switch (r) {
    case Reason::none:
      return "none";
    case Reason::header:
      return "HEADER";
    case Reason::opcode:
      return "OPCODE";
    case Reason::record:
      return "RECORD";
    case Reason::handle:
      return "HANDLE";
    case Reason::tref:
      return "TREF";
    case Reason::loop:
      return "LOOP";
    case Reason::dma_range:
      return "DMA_RANGE";
    case Reason::key_slot:
      return "KEY_SLOT";
    case Reason::tensor_id:
      return "TENSOR_ID";
  }
  return "unknown";
}

}  // namespace hix::session
