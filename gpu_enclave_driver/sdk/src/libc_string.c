/* The enclave's string and memory functions (docs/enclave-sdk.md §4). The
 * compiler also emits calls to memcpy/memset/memmove/memcmp by itself.
 * memcpy, memmove and memset use the string instructions so that the
 * compiler cannot turn their loops back into calls to themselves. */
#include <stddef.h>
#include <stdint.h>

void* memcpy(void* restrict dst, const void* restrict src, size_t n) {
  void* d = dst;
  /* asm: rep movsb copies RCX bytes from RSI to RDI (DF is clear in the enclave). */
  __asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
  return dst;
}

void* memmove(void* dst, const void* src, size_t n) {
  const unsigned char* s = src;
  unsigned char* d = dst;
  if (d == s || n == 0) return dst;
  if (d < s || d >= s + n) {
    /* asm: forward copy is safe when the destination starts below the source. */
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  } else {
    d += n - 1;
    s += n - 1;
    /* asm: copy backwards (DF=1) so an overlapping tail is read before it is written. */
    __asm__ volatile("std\n\trep movsb\n\tcld" : "+D"(d), "+S"(s), "+c"(n) : : "memory", "cc");
  }
  return dst;
}

void* memset(void* dst, int c, size_t n) {
  void* d = dst;
  /* asm: rep stosb stores AL into RCX bytes at RDI. */
  __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
  return dst;
}

/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters): the C library's memcmp signature. */
int memcmp(const void* a, const void* b, size_t n) {
  const unsigned char* x = a;
  const unsigned char* y = b;
  for (size_t i = 0; i < n; ++i) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

void* memchr(const void* p, int c, size_t n) {
  const unsigned char* s = p;
  for (size_t i = 0; i < n; ++i) {
    if (s[i] == (unsigned char)c) return (void*)(s + i); /* C's contract: drops const */
  }
  return NULL;
}

size_t strlen(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') ++n;
  return n;
}

size_t strnlen(const char* s, size_t max) {
  size_t n = 0;
  while (n < max && s[n] != '\0') ++n;
  return n;
}

int strcmp(const char* a, const char* b) {
  size_t i = 0;
  while (a[i] != '\0' && a[i] == b[i]) ++i;
  return (unsigned char)a[i] - (unsigned char)b[i];
}

int strncmp(const char* a, const char* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i] || a[i] == '\0') return (unsigned char)a[i] - (unsigned char)b[i];
  }
  return 0;
}

char* strchr(const char* s, int c) {
  for (;; ++s) {
    if (*s == (char)c) return (char*)s;
    if (*s == '\0') return NULL;
  }
}

char* strrchr(const char* s, int c) {
  const char* last = NULL;
  for (;; ++s) {
    if (*s == (char)c) last = s;
    if (*s == '\0') return (char*)last;
  }
}
