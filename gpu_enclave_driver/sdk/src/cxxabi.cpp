// The C++ runtime hooks an enclave may need without libstdc++/libsupc++
// (docs/enclave-sdk.md §4): allocation through the enclave heap, and the
// hooks the compiler emits calls to. Built with -fno-exceptions: a failed
// `new` cannot throw, so it kills the enclave (fail-closed).
#include <stddef.h>
#include <stdlib.h>

#include "hix_sdk/runtime.h"

void* operator new(size_t size) {
  void* p = malloc(size);
  if (p == nullptr) hix_sdk_abort();
  return p;
}

void* operator new[](size_t size) {
  void* p = malloc(size);
  if (p == nullptr) hix_sdk_abort();
  return p;
}

void operator delete(void* p) noexcept {
  free(p);
}
void operator delete[](void* p) noexcept {
  free(p);
}
void operator delete(void* p, size_t /*size*/) noexcept {
  free(p);
}
void operator delete[](void* p, size_t /*size*/) noexcept {
  free(p);
}

extern "C" {

// NOLINTNEXTLINE(bugprone-reserved-identifier): the Itanium ABI's name.
void __cxa_pure_virtual() {
  hix_sdk_abort();
}

// Static destructors never run: an enclave ends by being destroyed, never by
// returning from main, so registering them is a no-op.
// NOLINTNEXTLINE(bugprone-reserved-identifier): the Itanium ABI's name.
int __cxa_atexit(void (* /*destructor*/)(void*), void* /*object*/, void* /*dso*/) {
  return 0;
}

// NOLINTNEXTLINE(bugprone-reserved-identifier): the Itanium ABI's name.
void* __dso_handle = nullptr;

}  // extern "C"
