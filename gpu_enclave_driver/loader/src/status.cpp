// The loader's Status names.
#include "hix/loader/status.hpp"

namespace hix::loader {

const char* to_string(Status s) {
  switch (s) {
    case Status::ok:
      return "ok";
    case Status::io_error:
      return "io_error";
    case Status::image_too_large:
      return "image_too_large";
    case Status::not_elf64_x86_64:
      return "not_elf64_x86_64";
    case Status::not_static_executable:
      return "not_static_executable";
    case Status::bad_program_headers:
      return "bad_program_headers";
    case Status::bad_segment:
      return "bad_segment";
    case Status::segment_overlap:
      return "segment_overlap";
    case Status::writable_and_executable:
      return "writable_and_executable";
    case Status::no_tcs:
      return "no_tcs";
    case Status::bad_tcs:
      return "bad_tcs";
    case Status::bad_layout:
      return "bad_layout";
    case Status::no_device:
      return "no_device";
    case Status::unsupported_platform:
      return "unsupported_platform";
    case Status::create_failed:
      return "create_failed";
    case Status::add_failed:
      return "add_failed";
    case Status::init_failed:
      return "init_failed";
    case Status::map_failed:
      return "map_failed";
    case Status::lock_failed:
      return "lock_failed";
    case Status::enter_failed:
      return "enter_failed";
    case Status::enclave_aborted:
      return "enclave_aborted";
  }
  return "unknown";
}

}  // namespace hix::loader
