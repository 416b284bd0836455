'use strict';

/** gRPC's status codes with gRPC's numbers (rpc.proto's `Code`). */
const StatusCode = Object.freeze({
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
});

const codeNames = Object.fromEntries(Object.entries(StatusCode).map(([k, v]) => [v, k]));

/** The name of a status code ("INVALID_ARGUMENT"); "UNKNOWN" for other numbers. */
function statusName(code) {
  return codeNames[code] ?? 'UNKNOWN';
}

/**
 * Every failed call rejects with an LsmkvError: `code` is the status number,
 * `codeName` its name, `details` the server's message (or a local explanation
 * of a transport failure), and `message` all of them:
 * "INVALID_ARGUMENT (3): the key is empty".
 */
class LsmkvError extends Error {
  constructor(code, details) {
    super(`${statusName(code)} (${code}): ${details}`);
    this.name = 'LsmkvError';
    this.code = code;
    this.codeName = statusName(code);
    this.details = details;
  }
}

module.exports = { StatusCode, LsmkvError, statusName };
