/* The enclave heap: malloc/free/calloc/realloc over the fixed arena that the
 * linker script reserves (docs/enclave-sdk.md §4). The arena is enclave
 * memory, added and measured like every other page; it never grows.
 *
 * Blocks lie back to back from the arena start; each has a 16-byte header
 * {payload size, check word}. malloc walks the arena first-fit, merging each
 * free block with its free successors on the way. A header whose check word
 * does not match kills the enclave: heap corruption is never survivable
 * inside. Freed payloads are zeroed, so no secret outlives its block. */
#include <stddef.h>
#include <stdint.h>

#include "hix_sdk/runtime.h"
#include "internal.h"

void* memset(void* dst, int c, size_t n);
void* memcpy(void* restrict dst, const void* restrict src, size_t n);
void* malloc(size_t size);
void free(void* p);
void* calloc(size_t count, size_t size);
void* realloc(void* p, size_t size);

#define HEAP_ALIGN ((size_t)16)
#define MAGIC_USED 0x4849582d55534544ull /* "HIX-USED" */
#define MAGIC_FREE 0x4849582d46524545ull /* "HIX-FREE" */

struct header {
  uint64_t size;  /* payload bytes, a multiple of HEAP_ALIGN */
  uint64_t check; /* size ^ MAGIC_USED or size ^ MAGIC_FREE */
};
_Static_assert(sizeof(struct header) == 16, "payloads stay 16-byte aligned");

static uint8_t* arena_start(void) {
  return hix_lds_heap_start;
}
static uint8_t* arena_end(void) {
  return hix_lds_heap_end;
}

static int is_used(const struct header* h) {
  if (h->check == (h->size ^ MAGIC_USED)) return 1;
  if (h->check == (h->size ^ MAGIC_FREE)) return 0;
  hix_sdk_abort();
}

static void set_header(struct header* h, uint64_t size, uint64_t magic) {
  h->size = size;
  h->check = size ^ magic;
}

static struct header* next_of(struct header* h) {
  return (struct header*)(void*)((uint8_t*)h + sizeof *h + h->size);
}

/* The arena starts as zero pages: the first call makes it one free block. */
static void init_once(void) {
  struct header* first = (struct header*)(void*)arena_start();
  if (first->size == 0 && first->check == 0) {
    set_header(first, (uint64_t)(arena_end() - arena_start()) - sizeof *first, MAGIC_FREE);
  }
}

/* Merges h (free) with the free blocks that follow it. The swallowed
 * headers are zeroed so that free payloads stay all zero. */
static void coalesce(struct header* h) {
  struct header* n = next_of(h);
  while ((uint8_t*)n < arena_end() && !is_used(n)) {
    const uint64_t grown = h->size + sizeof *n + n->size;
    memset(n, 0, sizeof *n);
    set_header(h, grown, MAGIC_FREE);
    n = next_of(h);
  }
}

void* malloc(size_t size) {
  const size_t arena = (size_t)(arena_end() - arena_start());
  if (size == 0) size = 1;
  if (size > arena) return NULL;
  const size_t need = (size + HEAP_ALIGN - 1) & ~(HEAP_ALIGN - 1);
  init_once();
  for (struct header* h = (struct header*)(void*)arena_start(); (uint8_t*)h < arena_end();
       h = next_of(h)) {
    if (is_used(h)) continue;
    coalesce(h);
    if (h->size < need) continue;
    if (h->size - need >= sizeof *h + HEAP_ALIGN) {
      struct header* rest = (struct header*)(void*)((uint8_t*)h + sizeof *h + need);
      set_header(rest, h->size - need - sizeof *rest, MAGIC_FREE);
      set_header(h, need, MAGIC_USED);
    } else {
      set_header(h, h->size, MAGIC_USED);
    }
    return (uint8_t*)h + sizeof *h;
  }
  return NULL;
}

/* The header of a pointer malloc returned; anything else kills the enclave. */
static struct header* header_of(void* p) {
  uint8_t* b = p;
  if (b < arena_start() + sizeof(struct header) || b >= arena_end() ||
      (size_t)(b - arena_start()) % HEAP_ALIGN != 0) {
    hix_sdk_abort();
  }
  struct header* h = (struct header*)(void*)(b - sizeof(struct header));
  if (!is_used(h)) hix_sdk_abort(); /* double free */
  return h;
}

void free(void* p) {
  if (p == NULL) return;
  struct header* h = header_of(p);
  memset(p, 0, h->size);
  set_header(h, h->size, MAGIC_FREE);
}

void* calloc(size_t count, size_t size) {
  size_t total = 0;
  if (__builtin_mul_overflow(count, size, &total)) return NULL;
  void* p = malloc(total);
  if (p != NULL) memset(p, 0, total);
  return p;
}

void* realloc(void* p, size_t size) {
  if (p == NULL) return malloc(size);
  if (size == 0) {
    free(p);
    return NULL;
  }
  struct header* h = header_of(p);
  if (h->size >= size) return p;
  void* q = malloc(size);
  if (q == NULL) return NULL;
  memcpy(q, p, h->size);
  free(p);
  return q;
}
