'use strict';
/*
 * The transport speaks SP (sp.js) to lsmkv-server's nng rep0 socket itself,
 * over one net.Socket per client, with no libnng and no native addon.
 *
 * Why not libnng: nng 1.5.2 (what Debian 12 ships) can wedge for good when a
 * connection dies while an answer is half read. Its TCP transport then
 * resubmits the read on an I/O handle that its close has already stopped, the
 * read never completes, and nng's single reaper thread waits for it forever:
 * no connection of the process is torn down or re-dialed again, and closing
 * the socket hangs. The C client met it and stopped using libnng; this client
 * reached nng through koffi and was exposed the same way. Node's event loop
 * already does what nng's threads did for us (non-blocking I/O, timers), so
 * the protocol is a few framing rules on top of a socket, and every wait here
 * is one we own and bound by a deadline.
 *
 * How calls share the connection, and why:
 * - One connection carries every call of the client, as nng's REQ contexts
 *   did: each request gets an ID and answers are matched to their calls by
 *   it, in whatever order the server's workers finish them. An answer whose
 *   call has given up finds no call and is dropped, so it can never be taken
 *   for a later call's.
 * - A call connects when there is no connection, and calls that come
 *   meanwhile wait for the same attempt. Refused attempts are retried with a
 *   back-off (20 ms doubling to 500 ms) for as long as some call still waits,
 *   so a client may be created before its server is up. A peer that is not a
 *   rep0 socket is not retried: waiting would not change its answer.
 * - Each call has one timer, its deadline; nothing else can make it wait
 *   longer. A request is written once and never resent: a resent Put could
 *   land after a newer one.
 * - A connection that fails (end of stream, a reset, a malformed answer, an
 *   answer over maxMessageSize) is dropped whole: every call waiting on it
 *   fails at once with UNAVAILABLE, since the stream can no longer be trusted
 *   to line up, and the next call connects again. A connection the server
 *   closes while idle is just forgotten.
 * - The socket is unref'd while no call waits on it, so an idle client left
 *   open does not keep a process from exiting, and ref'd while calls are in
 *   flight, so the process waits for their answers.
 */

const net = require('node:net');
const { LsmkvError, StatusCode } = require('./errors');
const { parseEndpoint } = require('./endpoint');
const sp = require('./sp');

const RECONNECT_MIN_MS = 20;
const RECONNECT_MAX_MS = 500;

function remainingMs(deadline) {
  const left = deadline - performance.now();
  if (left <= 0) return 0;
  return Math.min(Math.ceil(left), 0x7fffffff);
}

/** The greeting's problem, or null for a rep0 peer. */
function greetingProblem(bytes) {
  const protocol = sp.parseGreeting(bytes);
  if (protocol === null) return 'the peer does not speak the SP protocol (is it lsmkv-server?)';
  if (protocol !== sp.PROTOCOL_REP0) {
    const hex = protocol.toString(16).padStart(4, '0');
    return `the peer speaks SP protocol 0x${hex}, not rep0 (0x0031) as lsmkv-server`;
  }
  return null;
}

/**
 * One socket to the server, from the greeting on, and the calls waiting for
 * answers on it. It tells its owner (the transport) what happens, passing
 * itself first: ready() once the server greeted as rep0; failed(why, fatal)
 * once, when it can no longer be used (fatal: the peer is no lsmkv-server,
 * so trying again would not help); answer(body) for each message read.
 */
class Connection {
  constructor(endpoint, maxMessageSize, owner) {
    this.ipc = endpoint.ipc;
    this.owner = owner;
    this.calls = new Map(); // request ID -> call waiting for its answer
    this.socketConnected = false; // and so waiting for the greeting
    this.greeted = false;
    this.broken = false;
    this.reader = new sp.MessageReader(this.ipc, maxMessageSize);
    this.greeting = Buffer.alloc(0);
    this.socket = net.connect(endpoint.options);
    this.socket.setNoDelay(true); // as nng does: a request is one small write
    this.socket.on('connect', () => this._connected());
    this.socket.on('data', (chunk) => this._received(chunk));
    this.socket.on('end', () => this._fail('the server closed it (it stopped, or a message was over its size limit)'));
    this.socket.on('error', (e) => this._fail(e.message));
    this.socket.on('close', () => this._fail('the socket closed'));
  }

  _connected() {
    this.socketConnected = true;
    this.socket.write(sp.greeting());
  }

  _received(chunk) {
    if (this.broken) return;
    if (!this.greeted) {
      chunk = this._readGreeting(chunk);
      if (chunk === null) return;
    }
    try {
      this.reader.push(chunk, (body) => this.owner.answer(this, body));
    } catch (e) {
      if (!(e instanceof sp.FramingError)) throw e;
      this._fail(e.message);
    }
  }

  /** Takes the greeting's bytes from `chunk`: what follows them, or null while it is incomplete or bad. */
  _readGreeting(chunk) {
    const want = sp.GREETING_SIZE - this.greeting.length;
    this.greeting = Buffer.concat([this.greeting, chunk.subarray(0, want)]);
    if (this.greeting.length < sp.GREETING_SIZE) return null;
    const problem = greetingProblem(this.greeting);
    if (problem) {
      this._fail(problem, true);
      return null;
    }
    this.greeted = true;
    this.owner.ready(this);
    return this.broken ? null : chunk.subarray(want);
  }

  _fail(why, fatal = false) {
    if (this.broken) return;
    this.broken = true;
    this.socket.destroy();
    this.owner.failed(this, why, fatal);
  }

  /** Drops the connection without telling the owner (it asked). */
  abandon() {
    this.broken = true;
    this.socket.destroy();
  }

  /** Writes `call`'s request under `call.id` and waits for the answer to it. */
  send(call) {
    if (this.calls.size === 0) this.socket.ref();
    this.calls.set(call.id, call);
    this.socket.cork();
    this.socket.write(sp.requestHead(this.ipc, call.id, call.request.length));
    if (call.request.length > 0) this.socket.write(call.request);
    this.socket.uncork();
  }

  /** The call waiting for `id`, no longer waiting; undefined if none is. */
  take(id) {
    const call = this.calls.get(id);
    if (call !== undefined) this.forget(call);
    return call;
  }

  forget(call) {
    this.calls.delete(call.id);
    if (this.calls.size === 0) this.socket.unref();
  }
}

/**
 * The connection being made for the calls that wait for one: its attempts
 * one at a time, the back-off between them, and the last attempt's failure.
 */
class Dialer {
  constructor() {
    this.backoffMs = RECONNECT_MIN_MS;
    this.attempt = null; // a Connection not greeted yet
    this.timer = null; // the pause before the next attempt
    this.lastError = null;
  }

  nextPauseMs() {
    const pause = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, RECONNECT_MAX_MS);
    return pause;
  }

  /** Why no connection is there yet, if that is known. */
  why() {
    if (this.attempt && this.attempt.socketConnected) return 'connected, but no SP greeting came back';
    return this.lastError;
  }

  stop() {
    clearTimeout(this.timer);
    if (this.attempt) this.attempt.abandon();
  }
}

class Transport {
  /**
   * @param {string} url
   * @param {number} maxMessageSize
   */
  constructor(url, maxMessageSize) {
    this.url = url;
    this.endpoint = parseEndpoint(url);
    this.maxMessageSize = maxMessageSize;
    this.closed = false;
    this._connection = null; // greeted; where calls go
    this._dialer = null; // making a connection for the calls in _unconnected
    this._unconnected = new Set(); // calls waiting for a connection, in call order
    this._lastId = 0;
    this._closePromise = null;
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
    return new Promise((resolve, reject) => {
      const call = { id: 0, request, timeoutMs, resolve, reject, connection: null, timer: null };
      call.timer = setTimeout(() => this._expired(call), remainingMs(deadline));
      if (this._connection) {
        this._send(this._connection, call);
      } else {
        this._unconnected.add(call);
        this._dial();
      }
    });
  }

  _send(connection, call) {
    this._lastId = (this._lastId + 1) & 0x7fffffff;
    call.id = (this._lastId | 0x80000000) >>> 0; // the top bit ends SP's backtrace
    call.connection = connection;
    connection.send(call);
  }

  /* ---- settling calls ---- */

  _settle(call, error, answer) {
    clearTimeout(call.timer);
    if (error) call.reject(error);
    else call.resolve(answer);
  }

  _expired(call) {
    if (call.connection) {
      call.connection.forget(call);
      this._settle(call, this._noAnswer(call));
      return;
    }
    this._unconnected.delete(call);
    const why = this._dialer && this._dialer.why();
    this._settle(call, this._notConnected(call, why ? `: ${why}` : ''));
    if (this._unconnected.size === 0) this._stopDialing();
  }

  _noAnswer(call) {
    return new LsmkvError(
      StatusCode.DEADLINE_EXCEEDED,
      `no answer from ${this.url} within ${call.timeoutMs} ms (the request may have been applied)`,
    );
  }

  _notConnected(call, why) {
    return new LsmkvError(
      StatusCode.UNAVAILABLE,
      `cannot reach lsmkv-server at ${this.url}: not connected within ${call.timeoutMs} ms ` +
        `(is the server running?)${why}`,
    );
  }

  _failUnconnected(error) {
    const calls = [...this._unconnected];
    this._unconnected.clear();
    for (const call of calls) this._settle(call, error);
  }

  /* ---- connecting ---- */

  _dial() {
    if (this._dialer) return;
    this._dialer = new Dialer();
    this._attempt();
  }

  _attempt() {
    this._dialer.timer = null;
    this._dialer.attempt = new Connection(this.endpoint, this.maxMessageSize, this);
  }

  _stopDialing() {
    if (!this._dialer) return;
    this._dialer.stop();
    this._dialer = null;
  }

  /** `connection` greeted: it takes the calls that waited for it. */
  ready(connection) {
    this._dialer = null;
    this._connection = connection;
    const calls = [...this._unconnected];
    this._unconnected.clear();
    for (const call of calls) this._send(connection, call);
    if (connection.calls.size === 0) connection.socket.unref();
  }

  failed(connection, why, fatal) {
    if (connection.greeted) this._broken(connection, why);
    else this._attemptFailed(why, fatal);
  }

  _attemptFailed(why, fatal) {
    const dialer = this._dialer;
    dialer.attempt = null;
    dialer.lastError = why;
    if (fatal) {
      this._dialer = null;
      this._failUnconnected(new LsmkvError(StatusCode.UNAVAILABLE, `cannot use ${this.url}: ${why}`));
    } else if (this._unconnected.size === 0) {
      this._dialer = null;
    } else {
      dialer.timer = setTimeout(() => this._attempt(), dialer.nextPauseMs());
    }
  }

  /* ---- answers and failures of the connection ---- */

  answer(connection, body) {
    const call = connection.take(body.readUInt32BE(0));
    if (call === undefined) return; // its call gave up waiting
    this._settle(call, null, body.subarray(sp.REQUEST_ID_SIZE));
  }

  /** Fails every call waiting on `connection`; the next call connects again. */
  _broken(connection, why) {
    if (this._connection === connection) this._connection = null;
    const calls = [...connection.calls.values()];
    connection.calls.clear();
    for (const call of calls) {
      this._settle(
        call,
        new LsmkvError(
          StatusCode.UNAVAILABLE,
          `the connection to ${this.url} closed before the answer: ${why} (the request may have been applied)`,
        ),
      );
    }
  }

  /**
   * Rejects every call in flight with CANCELLED and closes the socket; the
   * descriptor is closed when the promise resolves.
   * @returns {Promise<void>}
   */
  close() {
    if (this._closePromise) return this._closePromise;
    this.closed = true;
    const cancelled = () => new LsmkvError(StatusCode.CANCELLED, 'the client was closed during the call');
    this._stopDialing();
    this._failUnconnected(cancelled());
    const connection = this._connection;
    this._connection = null;
    if (connection) {
      connection.abandon();
      const calls = [...connection.calls.values()];
      connection.calls.clear();
      for (const call of calls) this._settle(call, cancelled());
    }
    this._closePromise = Promise.resolve();
    return this._closePromise;
  }
}

module.exports = { Transport };
