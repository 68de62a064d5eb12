/*
 * inotify.c — the smallest binding of Linux inotify that keeps what the others drop.
 *
 * libuv (node:fs.watch) and @parcel/watcher both discard IN_Q_OVERFLOW, the kernel's word that
 * events were lost; capture must hear it (docs/decisions.md, decision 14). This addon hands the
 * raw event records to JavaScript unchanged and leaves all policy to src/sys/inotify.ts:
 *
 *   open(onRecords)        -> handle     starts a reader thread; onRecords(Buffer) per read(2)
 *   add(handle, pathBuffer, mask) -> wd  inotify_add_watch; throws an Error with .code (errno name)
 *   remove(handle, wd)                   inotify_rm_watch; a wd already gone is not an error
 *   close(handle)                        stops the thread and closes the descriptor
 *
 * Backpressure: the thread hands over at most QUEUE_MAX buffers that JavaScript has not taken
 * yet and then blocks, so a slow event loop fills the kernel's queue, whose overflow is then
 * reported (IN_Q_OVERFLOW), instead of growing memory without bound.
 *
 * Only Node-API is used, so one build serves every Node version from 18 on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <node_api.h>

#define READ_BYTES (64 * 1024)
#define QUEUE_MAX 16

typedef struct {
  int fd;
  int stop_pipe[2];
  pthread_t thread;
  napi_threadsafe_function tsfn;
  int is_closed;
} watcher_t;

typedef struct {
  size_t length;
  char bytes[];
} records_t;

#define CHECK(env, call)                                   \
  do {                                                     \
    if ((call) != napi_ok) {                               \
      napi_throw_error((env), NULL, "inotify: " #call);   \
      return NULL;                                         \
    }                                                      \
  } while (0)

static const char *errno_code(int err) {
  switch (err) {
    case ENOENT: return "ENOENT";
    case ENOTDIR: return "ENOTDIR";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOSPC: return "ENOSPC";
    case ENOMEM: return "ENOMEM";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    default: return "EIO";
  }
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  napi_value code, message, error;
  char text[256];
  snprintf(text, sizeof text, "%s: %s", what, strerror(err));
  napi_create_string_utf8(env, errno_code(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_set_named_property(env, error, "code", code);
  napi_throw(env, error);
  return NULL;
}

/* deliver runs on the JavaScript thread: it wraps one read's records in a Buffer. */
static void deliver(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  records_t *records = data;
  if (env != NULL && callback != NULL) {
    napi_value buffer, undefined;
    void *copy;
    if (napi_create_buffer_copy(env, records->length, records->bytes, &copy, &buffer) == napi_ok) {
      napi_get_undefined(env, &undefined);
      napi_call_function(env, undefined, callback, 1, &buffer, NULL);
    }
  }
  free(records);
}

static void *read_loop(void *arg) {
  watcher_t *w = arg;
  struct pollfd fds[2] = {{.fd = w->fd, .events = POLLIN}, {.fd = w->stop_pipe[0], .events = POLLIN}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents) break;
    if (!(fds[0].revents & POLLIN)) continue;
    records_t *records = malloc(sizeof(records_t) + READ_BYTES);
    if (records == NULL) break;
    ssize_t n = read(w->fd, records->bytes, READ_BYTES);
    if (n <= 0) {
      free(records);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      break;
    }
    records->length = (size_t)n;
    if (napi_call_threadsafe_function(w->tsfn, records, napi_tsfn_blocking) != napi_ok) {
      free(records); /* closing: JavaScript no longer listens */
      break;
    }
  }
  return NULL;
}

static watcher_t *unwrap(napi_env env, napi_value handle) {
  watcher_t *w = NULL;
  if (napi_get_value_external(env, handle, (void **)&w) != napi_ok || w == NULL || w->is_closed) {
    napi_throw_error(env, "EBADF", "inotify: the watcher is closed");
    return NULL;
  }
  return w;
}

static void stop(watcher_t *w) {
  if (w->is_closed) return;
  w->is_closed = 1;
  /* Abort first: a thread blocked on a full queue returns at once instead of waiting for us. */
  napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
  char byte = 1;
  ssize_t ignored = write(w->stop_pipe[1], &byte, 1);
  (void)ignored;
  pthread_join(w->thread, NULL);
  close(w->fd);
  close(w->stop_pipe[0]);
  close(w->stop_pipe[1]);
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  watcher_t *w = data;
  stop(w);
  free(w);
}

static napi_value open_watcher(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], name, handle;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  watcher_t *w = calloc(1, sizeof *w);
  if (w == NULL) return throw_errno(env, "inotify_init1", ENOMEM);
  w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (w->fd < 0) {
    int err = errno;
    free(w);
    return throw_errno(env, "inotify_init1", err);
  }
  if (pipe2(w->stop_pipe, O_CLOEXEC) < 0) {
    int err = errno;
    close(w->fd);
    free(w);
    return throw_errno(env, "pipe2", err);
  }
  CHECK(env, napi_create_string_utf8(env, "inotify", NAPI_AUTO_LENGTH, &name));
  CHECK(env, napi_create_threadsafe_function(env, argv[0], NULL, name, QUEUE_MAX, 1, NULL, NULL, NULL,
                                             deliver, &w->tsfn));
  /* The watcher alone does not keep the process alive; its owner does. */
  napi_unref_threadsafe_function(env, w->tsfn);
  if (pthread_create(&w->thread, NULL, read_loop, w) != 0) {
    int err = errno;
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
    close(w->fd);
    free(w);
    return throw_errno(env, "pthread_create", err);
  }
  CHECK(env, napi_create_external(env, w, finalize_handle, NULL, &handle));
  return handle;
}

static napi_value add_watch(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  watcher_t *w = unwrap(env, argv[0]);
  if (w == NULL) return NULL;
  char *bytes;
  size_t length;
  uint32_t mask;
  CHECK(env, napi_get_buffer_info(env, argv[1], (void **)&bytes, &length));
  CHECK(env, napi_get_value_uint32(env, argv[2], &mask));
  char *path = malloc(length + 1);
  if (path == NULL) return throw_errno(env, "inotify_add_watch", ENOMEM);
  memcpy(path, bytes, length);
  path[length] = 0;
  int wd = inotify_add_watch(w->fd, path, mask);
  int err = errno;
  free(path);
  if (wd < 0) return throw_errno(env, "inotify_add_watch", err);
  CHECK(env, napi_create_int32(env, wd, &result));
  return result;
}

static napi_value remove_watch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t wd;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  watcher_t *w = unwrap(env, argv[0]);
  if (w == NULL) return NULL;
  CHECK(env, napi_get_value_int32(env, argv[1], &wd));
  if (inotify_rm_watch(w->fd, wd) < 0 && errno != EINVAL) return throw_errno(env, "inotify_rm_watch", errno);
  return NULL;
}

static napi_value close_watcher(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  watcher_t *w = NULL;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(env, napi_get_value_external(env, argv[0], (void **)&w));
  if (w != NULL) stop(w);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"open", NULL, open_watcher, NULL, NULL, NULL, napi_default, NULL},
      {"add", NULL, add_watch, NULL, NULL, NULL, napi_default, NULL},
      {"remove", NULL, remove_watch, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_watcher, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, 4, methods) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(inotify, init)
