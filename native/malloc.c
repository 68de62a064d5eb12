/*
 * malloc.c — lets the agent give glibc's free heap pages back to the kernel.
 *
 * Node's Buffers below glibc's mmap threshold (the link's JSON batches, TLS records, SQLite's
 * pages) come from malloc's main arena. V8 frees them only when it collects, by then thousands
 * at once, scattered between live blocks: the arena can shrink only from its top, so the pages
 * stay resident, and a busy agent's RSS rises with how long it has been busy. Measured at a
 * million files: 85 MiB in the primary's arena, 21 MiB after one malloc_trim(0)
 * (docs/decisions.md, 15). src/sys/heap-trim.ts calls this every few seconds.
 *
 *   freeBytes() -> number   free bytes malloc holds in its arenas (mallinfo2().fordblks)
 *   trim() -> boolean       malloc_trim(0): whole free pages anywhere in the arenas go back
 *
 * Elsewhere than glibc both do nothing (0, false).
 */
#define _GNU_SOURCE
#include <malloc.h>

#include <node_api.h>

static napi_value free_bytes(napi_env env, napi_callback_info info) {
  (void)info;
  double bytes = 0;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  bytes = (double)mallinfo2().fordblks;
#endif
  napi_value out;
  napi_create_double(env, bytes, &out);
  return out;
}

static napi_value trim(napi_env env, napi_callback_info info) {
  (void)info;
  int released = 0;
#ifdef __GLIBC__
  released = malloc_trim(0);
#endif
  napi_value out;
  napi_get_boolean(env, released != 0, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"freeBytes", NULL, free_bytes, NULL, NULL, NULL, napi_default, NULL},
      {"trim", NULL, trim, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(malloc, init)
