/* Freestanding definitions of the hosted-libc symbols that Debian's
 * libsodium.a references (docs/enclave-sdk.md §4: the list is what `nm -u`
 * shows for the objects an enclave pulls in). An enclave has no OS: every
 * file, memory-mapping and clock call fails with ENOSYS, which libsodium
 * treats as an error (and randombytes never reaches these: it is RDRAND).
 * Paths that mean "something is badly wrong" (assertions, stack smashing,
 * raise) kill the enclave instead of returning. */
#include <stddef.h>
#include <stdint.h>

#include "hix_sdk/runtime.h"

void* memset(void* dst, int c, size_t n);

#define HIX_ENOSYS 38
#define HIX_EINVAL 22
#define HIX_SC_PAGESIZE 30 /* glibc's _SC_PAGESIZE */

static int hix_errno;

/* NOLINTNEXTLINE(bugprone-reserved-identifier): glibc's name for errno; libsodium.a calls it. */
int* __errno_location(void) {
  return &hix_errno;
}

static int fail_enosys(void) {
  hix_errno = HIX_ENOSYS;
  return -1;
}

/* -- failing "system calls" ------------------------------------------------ */

int open(const char* path, int flags, ...) {
  (void)path;
  (void)flags;
  return fail_enosys();
}

long read(int fd, void* buf, size_t n) {
  (void)fd;
  (void)buf;
  (void)n;
  return fail_enosys();
}

int close(int fd) {
  (void)fd;
  return fail_enosys();
}

int poll(void* fds, unsigned long n, int timeout) {
  (void)fds;
  (void)n;
  (void)timeout;
  return fail_enosys();
}

/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters): POSIX's fcntl signature. */
int fcntl(int fd, int cmd, ...) {
  (void)fd;
  (void)cmd;
  return fail_enosys();
}

int fstat(int fd, void* st) {
  (void)fd;
  (void)st;
  return fail_enosys();
}

long getrandom(void* buf, size_t n, unsigned int flags) {
  (void)buf;
  (void)n;
  (void)flags;
  return fail_enosys();
}

int getentropy(void* buf, size_t n) {
  (void)buf;
  (void)n;
  return fail_enosys();
}

/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters): POSIX's mmap signature. */
void* mmap(void* addr, size_t n, int prot, int flags, int fd, long off) {
  (void)addr;
  (void)n;
  (void)prot;
  (void)flags;
  (void)fd;
  (void)off;
  hix_errno = HIX_ENOSYS;
  return (void*)(intptr_t)-1; /* MAP_FAILED */ /* NOLINT(performance-no-int-to-ptr) */
}

int munmap(void* addr, size_t n) {
  (void)addr;
  (void)n;
  return fail_enosys();
}

int mprotect(void* addr, size_t n, int prot) {
  (void)addr;
  (void)n;
  (void)prot;
  return fail_enosys();
}

int madvise(void* addr, size_t n, int advice) {
  (void)addr;
  (void)n;
  (void)advice;
  return fail_enosys();
}

int mlock(const void* addr, size_t n) {
  (void)addr;
  (void)n;
  return fail_enosys();
}

int munlock(const void* addr, size_t n) {
  (void)addr;
  (void)n;
  return fail_enosys();
}

/* libsodium sizes its guarded allocations by the page size; the enclave's
 * pages are the ISA's 4 KiB pages. */
long sysconf(int name) {
  if (name == HIX_SC_PAGESIZE) return 4096;
  hix_errno = HIX_EINVAL;
  return -1;
}

/* -- locks ------------------------------------------------------------------ */

/* libsodium's sodium_crit_enter/leave. A spin lock on the mutex's first word
 * (zero in PTHREAD_MUTEX_INITIALIZER); with one TCS it is never contended. */
int pthread_mutex_lock(void* mutex) {
  int* word = mutex;
  while (__atomic_exchange_n(word, 1, __ATOMIC_ACQUIRE) != 0) {
    __builtin_ia32_pause();
  }
  return 0;
}

int pthread_mutex_unlock(void* mutex) {
  int* word = mutex;
  __atomic_store_n(word, 0, __ATOMIC_RELEASE);
  return 0;
}

/* -- fail-closed ------------------------------------------------------------ */

void abort(void) {
  hix_sdk_abort();
}

int raise(int sig) {
  (void)sig;
  hix_sdk_abort();
}

/* NOLINTNEXTLINE(bugprone-reserved-identifier): the stack protector's hook in libsodium.a. */
void __stack_chk_fail(void) {
  hix_sdk_abort();
}

/* glibc's assert() hook in libsodium.a, with glibc's signature. */
/* NOLINTNEXTLINE(bugprone-reserved-identifier,bugprone-easily-swappable-parameters) */
void __assert_fail(const char* expr, const char* file, unsigned int line, const char* func) {
  (void)expr;
  (void)file;
  (void)line;
  (void)func;
  hix_sdk_abort();
}

/* NOLINTNEXTLINE(bugprone-reserved-identifier): _FORTIFY_SOURCE's explicit_bzero in libsodium.a. */
void __explicit_bzero_chk(void* p, size_t n, size_t object_size) {
  if (n > object_size) hix_sdk_abort();
  memset(p, 0, n);
  /* asm: a compiler barrier that "uses" p, so the stores above are never elided. */
  __asm__ volatile("" : : "r"(p) : "memory");
}
