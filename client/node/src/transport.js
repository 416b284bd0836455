'use strict';
/*
 * nng REQ transport over the system's libnng (Debian's libnng1) through koffi.
 *
 * Why it is built this way:
 *
 * - One REQ socket per client and one nng context per call in flight (pooled
 *   with its aio): a context carries its own request, so any number of calls
 *   can be outstanding at once without waiting for each other.
 * - Every step is asynchronous: nng_ctx_send / nng_ctx_recv on an aio that was
 *   allocated with a completion callback. nng runs that callback on one of its
 *   own threads; the callback is a koffi-registered JS function, and koffi
 *   relays a call from a foreign thread to the JS thread through the event
 *   loop (the nng thread waits until the JS function has run). So the JS code
 *   below always runs on the JS thread and never blocks it: no polling, no
 *   worker threads, no thread pool.
 * - The price of that relay: while JS runs the handler, an nng thread waits
 *   for it. So the JS thread must never wait for nng's threads (that would be
 *   a deadlock): nothing here calls nng_aio_wait or nng_aio_stop, an aio is
 *   freed (nng_aio_free waits for its callback) only when no operation is
 *   pending on it and outside its callback, and close() first cancels every
 *   pending call and waits for the callbacks to come back through the event
 *   loop before it closes the socket. No pipe-notify callback is registered
 *   (nng_close would run it).
 * - Deadlines: the aio's timeout is set before each step to what is left of
 *   the call's deadline, so no call waits longer than its timeout. nng's
 *   automatic resend is disabled (NNG_OPT_REQ_RESENDTIME infinite): a resent
 *   Put could land after a newer one; a call is sent at most once.
 * - nng's sockets hold no libuv handle, so a process whose calls are done
 *   exits even if a client is left open; while calls are in flight, one timer
 *   keeps the event loop alive.
 */

const koffi = require('koffi');
const { LsmkvError, StatusCode } = require('./errors');

const NNG_ETIMEDOUT = 5;
const NNG_ECLOSED = 7;
const NNG_ECONNRESET = 19;
const NNG_ECANCELED = 20;
const NNG_ECONNSHUT = 31;
const NNG_DURATION_INFINITE = -1;
const NNG_FLAG_NONBLOCK = 2;
const RECONNECT_MIN_MS = 20;
const RECONNECT_MAX_MS = 500;
const MAX_IDLE = 64;

let lib;
let nng;

function loadNng() {
  if (nng) return nng;
  try {
    lib = koffi.load('libnng.so.1');
  } catch (e) {
    throw new Error(`lsmkv needs the nng library (Debian: apt-get install libnng1): ${e.message}`);
  }
  koffi.struct('nng_socket', { id: 'uint32_t' });
  koffi.struct('nng_ctx', { id: 'uint32_t' });
  koffi.struct('nng_dialer', { id: 'uint32_t' });
  // void (*)(void *): the argument is our call-slot number, passed as an integer.
  const AioCallback = koffi.proto('void lsmkv_nng_aio_cb(intptr_t arg)');
  const f = (sig) => lib.func(sig);
  nng = {
    strerror: f('const char *nng_strerror(int err)'),
    req0Open: f('int nng_req0_open(_Out_ nng_socket *s)'),
    close: f('int nng_close(nng_socket s)'),
    socketSetMs: f('int nng_socket_set_ms(nng_socket s, const char *opt, int32_t ms)'),
    socketSetSize: f('int nng_socket_set_size(nng_socket s, const char *opt, size_t v)'),
    dialerCreate: f('int nng_dialer_create(_Out_ nng_dialer *d, nng_socket s, const char *url)'),
    dialerSetMs: f('int nng_dialer_set_ms(nng_dialer d, const char *opt, int32_t ms)'),
    dialerSetSize: f('int nng_dialer_set_size(nng_dialer d, const char *opt, size_t v)'),
    dialerStart: f('int nng_dialer_start(nng_dialer d, int flags)'),
    ctxOpen: f('int nng_ctx_open(_Out_ nng_ctx *c, nng_socket s)'),
    ctxClose: f('int nng_ctx_close(nng_ctx c)'),
    ctxSetMs: f('int nng_ctx_set_ms(nng_ctx c, const char *opt, int32_t ms)'),
    ctxSend: f('void nng_ctx_send(nng_ctx c, void *aio)'),
    ctxRecv: f('void nng_ctx_recv(nng_ctx c, void *aio)'),
    aioAlloc: f('int nng_aio_alloc(_Out_ void **aio, lsmkv_nng_aio_cb *cb, intptr_t arg)'),
    aioFree: f('void nng_aio_free(void *aio)'),
    aioCancel: f('void nng_aio_cancel(void *aio)'),
    aioResult: f('int nng_aio_result(void *aio)'),
    aioSetTimeout: f('void nng_aio_set_timeout(void *aio, int32_t ms)'),
    aioSetMsg: f('void nng_aio_set_msg(void *aio, void *msg)'),
    aioGetMsg: f('void *nng_aio_get_msg(void *aio)'),
    msgAlloc: f('int nng_msg_alloc(_Out_ void **msg, size_t size)'),
    msgAppend: f('int nng_msg_append(void *msg, const void *data, size_t size)'),
    msgFree: f('void nng_msg_free(void *msg)'),
    msgBody: f('void *nng_msg_body(void *msg)'),
    msgLen: f('size_t nng_msg_len(void *msg)'),
    statsGet: f('int nng_stats_get(_Out_ void **stats)'),
    statsFree: f('void nng_stats_free(void *stats)'),
    statFindSocket: f('void *nng_stat_find_socket(void *stats, nng_socket s)'),
    statFind: f('void *nng_stat_find(void *stats, const char *name)'),
    statValue: f('uint64_t nng_stat_value(void *stat)'),
  };
  // One registered callback for the whole process, dispatching by slot number:
  // koffi has a limited number of callback trampolines.
  nng.callback = koffi.register(onAioDone, koffi.pointer(AioCallback));
  return nng;
}

/** Slots with an operation in flight, by number (the aio callback's argument). */
const busySlots = new Map();
let nextSlotId = 1;

function onAioDone(id) {
  const slot = busySlots.get(Number(id));
  if (slot === undefined) return;
  try {
    slot.transport._step(slot);
  } catch (e) {
    // koffi would swallow an exception thrown here and the call would never
    // settle: fail it instead.
    if (slot.resolve) {
      slot.transport._finish(slot, new LsmkvError(StatusCode.INTERNAL, `lsmkv client bug: ${e.stack || e}`));
    }
  }
}

/* One event-loop keep-alive for every call in flight, in every client. */
let inFlight = 0;
let keepAlive = null;
function callStarted() {
  if (inFlight++ === 0) keepAlive = setInterval(() => {}, 1 << 30);
}
function callEnded() {
  if (--inFlight === 0) {
    clearInterval(keepAlive);
    keepAlive = null;
  }
}

function strerror(rv) {
  return nng.strerror(rv);
}

function remainingMs(deadline) {
  const left = deadline - performance.now();
  if (left <= 0) return 0;
  return Math.min(Math.ceil(left), 0x7fffffff);
}

class Transport {
  /**
   * @param {string} url
   * @param {number} maxMessageSize
   */
  constructor(url, maxMessageSize) {
    loadNng();
    this.url = url;
    this.maxMessageSize = maxMessageSize;
    this.closed = false;
    this._idle = [];
    this._active = new Set();
    this._closing = null;
    this._closePromise = null;
    this._socket = {};
    let rv = nng.req0Open(this._socket);
    if (rv !== 0) {
      throw new LsmkvError(StatusCode.UNAVAILABLE, `cannot create an nng REQ socket: ${strerror(rv)}`);
    }
    nng.socketSetMs(this._socket, 'req:resend-time', NNG_DURATION_INFINITE);
    nng.socketSetSize(this._socket, 'recv-size-max', maxMessageSize);
    const dialer = {};
    rv = nng.dialerCreate(dialer, this._socket, url);
    if (rv === 0) {
      nng.dialerSetMs(dialer, 'reconnect-time-min', RECONNECT_MIN_MS);
      nng.dialerSetMs(dialer, 'reconnect-time-max', RECONNECT_MAX_MS);
      nng.dialerSetSize(dialer, 'recv-size-max', maxMessageSize);
      // Non-blocking: connecting runs in the background and is retried, so a
      // client may be created before its server is up.
      rv = nng.dialerStart(dialer, NNG_FLAG_NONBLOCK);
    }
    if (rv !== 0) {
      nng.close(this._socket);
      throw new LsmkvError(StatusCode.INVALID_ARGUMENT, `cannot dial '${url}': ${strerror(rv)}`);
    }
  }

  /**
   * Sends one request and resolves with the answer's bytes, before `deadline`
   * (a performance.now() value); rejects with LsmkvError.
   * @param {Uint8Array} request
   * @param {number} deadline
   * @param {number} timeoutMs
   * @returns {Promise<Buffer>}
   */
  call(request, deadline, timeoutMs) {
    if (this.closed) {
      return Promise.reject(new LsmkvError(StatusCode.CANCELLED, 'the client is closed'));
    }
    if (request.length > this.maxMessageSize) {
      return Promise.reject(
        new LsmkvError(
          StatusCode.RESOURCE_EXHAUSTED,
          `the request (${request.length} bytes) is over the client's maxMessageSize ` +
            `(${this.maxMessageSize} bytes); it was not sent`,
        ),
      );
    }
    let slot;
    try {
      slot = this._slotGet();
    } catch (e) {
      return Promise.reject(e);
    }
    const msg = [null];
    let rv = nng.msgAlloc(msg, 0);
    if (rv === 0 && request.length > 0) {
      rv = nng.msgAppend(msg[0], request, request.length);
      if (rv !== 0) nng.msgFree(msg[0]);
    }
    if (rv !== 0) {
      this._slotPut(slot);
      return Promise.reject(
        new LsmkvError(StatusCode.RESOURCE_EXHAUSTED, `cannot allocate a message: ${strerror(rv)}`),
      );
    }
    return new Promise((resolve, reject) => {
      slot.resolve = resolve;
      slot.reject = reject;
      slot.deadline = deadline;
      slot.timeoutMs = timeoutMs;
      slot.sending = true;
      this._active.add(slot);
      busySlots.set(slot.id, slot);
      callStarted();
      nng.aioSetMsg(slot.aio, msg[0]);
      nng.aioSetTimeout(slot.aio, remainingMs(deadline));
      nng.ctxSend(slot.ctx, slot.aio);
    });
  }

  /* The aio of `slot` completed a step: runs on the JS thread (relayed by koffi). */
  _step(slot) {
    const rv = nng.aioResult(slot.aio);
    if (slot.sending) {
      if (rv !== 0) {
        nng.msgFree(nng.aioGetMsg(slot.aio)); // an unsent message stays ours
        this._finish(slot, this._failure(rv, false, slot.timeoutMs));
        return;
      }
      if (this.closed) {
        this._finish(slot, new LsmkvError(StatusCode.CANCELLED, 'the client was closed during the call'));
        return;
      }
      slot.sending = false;
      nng.aioSetTimeout(slot.aio, remainingMs(slot.deadline));
      nng.ctxRecv(slot.ctx, slot.aio);
      return;
    }
    if (rv !== 0) {
      this._finish(slot, this._failure(rv, true, slot.timeoutMs));
      return;
    }
    const answer = nng.aioGetMsg(slot.aio);
    const len = nng.msgLen(answer);
    // A copy: the message is freed right after.
    const data = len > 0 ? Buffer.from(new Uint8Array(koffi.view(nng.msgBody(answer), len))) : Buffer.alloc(0);
    nng.msgFree(answer);
    this._finish(slot, null, data);
  }

  _finish(slot, error, data) {
    const { resolve, reject } = slot;
    slot.resolve = slot.reject = null;
    busySlots.delete(slot.id);
    this._active.delete(slot);
    callEnded();
    if (error) {
      // A context that failed mid-exchange is not reused. Freeing waits for
      // the aio's callback, which is still on the stack: do it later.
      setImmediate(() => freeSlot(slot));
      reject(error);
    } else {
      this._slotPut(slot);
      resolve(data);
    }
    // Not from inside the aio's callback (this one): nng_close must not run
    // while an nng thread waits for us.
    if (this._closing && this._active.size === 0) setImmediate(this._closing);
  }

  _slotGet() {
    const idle = this._idle.pop();
    if (idle) return idle;
    const ctx = {};
    let rv = nng.ctxOpen(ctx, this._socket);
    if (rv !== 0) {
      throw new LsmkvError(StatusCode.UNAVAILABLE, `cannot open an nng context: ${strerror(rv)}`);
    }
    const id = nextSlotId++;
    const aio = [null];
    rv = nng.ctxSetMs(ctx, 'req:resend-time', NNG_DURATION_INFINITE);
    if (rv === 0) rv = nng.aioAlloc(aio, nng.callback, id);
    if (rv !== 0) {
      nng.ctxClose(ctx);
      throw new LsmkvError(StatusCode.UNAVAILABLE, `cannot open an nng context: ${strerror(rv)}`);
    }
    return { id, ctx, aio: aio[0], transport: this, sending: false, resolve: null, reject: null };
  }

  _slotPut(slot) {
    if (!this.closed && this._idle.length < MAX_IDLE) {
      this._idle.push(slot);
    } else {
      setImmediate(() => freeSlot(slot));
    }
  }

  /** Live connections of the socket, from nng's statistics (null if unknown). */
  _connections() {
    const root = [null];
    if (nng.statsGet(root) !== 0) return null;
    try {
      const sock = nng.statFindSocket(root[0], this._socket);
      const pipes = sock ? nng.statFind(sock, 'pipes') : null;
      return pipes ? Number(nng.statValue(pipes)) : null;
    } finally {
      nng.statsFree(root[0]);
    }
  }

  _failure(rv, sent, timeoutMs) {
    if (this.closed || rv === NNG_ECLOSED || rv === NNG_ECANCELED) {
      return new LsmkvError(StatusCode.CANCELLED, 'the client was closed during the call');
    }
    if (rv === NNG_ETIMEDOUT && !sent) {
      // REQ's send waits for a connection to take the request.
      const connections = this._connections();
      if (!connections) {
        return new LsmkvError(
          StatusCode.UNAVAILABLE,
          `cannot reach lsmkv-server at ${this.url}: not connected within ${timeoutMs} ms ` +
            '(is the server running?)',
        );
      }
      return new LsmkvError(
        StatusCode.DEADLINE_EXCEEDED,
        `the request to ${this.url} could not be sent within ${timeoutMs} ms`,
      );
    }
    if (rv === NNG_ETIMEDOUT) {
      return new LsmkvError(
        StatusCode.DEADLINE_EXCEEDED,
        `no answer from ${this.url} within ${timeoutMs} ms (the request may have been applied)`,
      );
    }
    if (rv === NNG_ECONNRESET || rv === NNG_ECONNSHUT) {
      return new LsmkvError(
        StatusCode.UNAVAILABLE,
        `the connection to ${this.url} closed before the answer: the server stopped, or a ` +
          'message was over a size limit (the request may have been applied)',
      );
    }
    return new LsmkvError(StatusCode.UNAVAILABLE, `call to ${this.url} failed: ${strerror(rv)}`);
  }

  /**
   * Cancels the calls in flight (they reject with CANCELLED), waits for their
   * callbacks, then frees the contexts and closes the socket.
   * @returns {Promise<void>}
   */
  close() {
    if (this._closePromise) return this._closePromise;
    this.closed = true;
    this._closePromise = new Promise((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        this._closing = null;
        for (const slot of this._idle.splice(0)) freeSlot(slot);
        // No aio of this socket is pending now: nng_close runs no callback.
        nng.close(this._socket);
        resolve();
      };
      if (this._active.size === 0) {
        finish();
        return;
      }
      this._closing = finish;
      for (const slot of this._active) nng.aioCancel(slot.aio);
    });
    return this._closePromise;
  }
}

function freeSlot(slot) {
  nng.ctxClose(slot.ctx);
  nng.aioFree(slot.aio);
}

module.exports = { Transport, loadNng };
