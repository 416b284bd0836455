'use strict';
/*
 * Server URLs, as lsmkv-server's --listen takes them, into options for
 * net.connect: tcp://host:port (tcp4:// and tcp6:// pick the address family;
 * an IPv6 address goes in brackets, tcp://[::1]:7420), ipc:///path/to/socket
 * (a Unix socket) and abstract://name (a Linux abstract socket: the name goes
 * after a NUL byte, which is how net.connect is told).
 */
const { LsmkvError, StatusCode } = require('./errors');

const SCHEMES = [
  { prefix: 'tcp://', family: 0 },
  { prefix: 'tcp4://', family: 4 },
  { prefix: 'tcp6://', family: 6 },
  { prefix: 'ipc://', unix: true },
  { prefix: 'abstract://', unix: true, abstract: true },
];

/** A Unix socket's path fits in sun_path (108 bytes on Linux) with its terminating NUL. */
const MAX_UNIX_PATH = 107;

/** Why `rest` ("host:port" or "[v6]:port") is no TCP address, or its connect options. */
function parseHostPort(rest, family) {
  let host;
  let port;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) return { why: "an IPv6 address needs its closing ']'" };
    if (rest[close + 1] !== ':') return { why: "expected ':port' after the IPv6 address" };
    host = rest.slice(1, close);
    port = rest.slice(close + 2);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon < 0) return { why: 'no port (expected tcp://host:port)' };
    host = rest.slice(0, colon);
    port = rest.slice(colon + 1);
  }
  if (host === '') return { why: 'no host (expected tcp://host:port)' };
  if (!/^[0-9]+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    return { why: 'the port must be a number from 1 to 65535' };
  }
  const options = { host, port: Number(port) };
  if (family) options.family = family;
  return { options };
}

/**
 * Whether this Node's libuv connects to an abstract socket by the name's
 * exact length, as nng names them: libuv before 1.48 pads the name with NUL
 * bytes to the whole sun_path, which is another name (Node 22 and later have
 * 1.48 or newer).
 */
function connectsToAbstractNames() {
  const [major, minor] = process.versions.uv.split('.').map(Number);
  return process.platform === 'linux' && (major > 1 || (major === 1 && minor >= 48));
}

function parseUnixPath(rest, abstract) {
  if (rest === '') return { why: 'no socket path' };
  if (abstract && !connectsToAbstractNames()) {
    return {
      why:
        `this Node (libuv ${process.versions.uv}) cannot connect to an abstract socket by its name; ` +
        'it needs libuv 1.48 or newer (Node 22 or newer), or use ipc:// with a path',
    };
  }
  if (Buffer.byteLength(rest) > MAX_UNIX_PATH) return { why: 'the socket path is too long for a Unix socket' };
  return { options: { path: abstract ? `\0${rest}` : rest } };
}

/**
 * The endpoint of `url`: { ipc, options } where `ipc` says the socket is a
 * Unix socket (whose messages carry a type byte) and `options` go to
 * net.connect. Throws LsmkvError INVALID_ARGUMENT naming the URL.
 */
function parseEndpoint(url) {
  const scheme = SCHEMES.find((s) => url.startsWith(s.prefix));
  const rest = scheme ? url.slice(scheme.prefix.length) : '';
  const parsed = !scheme
    ? { why: 'unknown scheme (expected tcp://, tcp4://, tcp6://, ipc:// or abstract://)' }
    : scheme.unix
      ? parseUnixPath(rest, scheme.abstract)
      : parseHostPort(rest, scheme.family);
  if (parsed.why) {
    throw new LsmkvError(StatusCode.INVALID_ARGUMENT, `invalid server URL '${url}': ${parsed.why}`);
  }
  return { ipc: Boolean(scheme.unix), options: parsed.options };
}

module.exports = { parseEndpoint, connectsToAbstractNames };
