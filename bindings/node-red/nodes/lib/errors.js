'use strict';

// Error reporting shared by the polystat nodes. Every failure carries one of
// the polystat error codes, so a Catch node can branch on `msg.error.code`
// whether the binding or a node's own input check raised it.

const CODES = new Set([
  'NOT_FOUND',
  'CONFLICT',
  'VALIDATION',
  'REFERENCE',
  'UNAVAILABLE',
  'TIMEOUT',
  'TRANSFORM',
  'UNAUTHORIZED',
  'RATE_LIMITED',
  'CONFIGURATION',
]);

// Details of a PolystatError that are copied into `msg.error`.
const DETAIL_FIELDS = [
  'field',
  'reason',
  'operation',
  'entity',
  'id',
  'backend',
  'retryAfter',
  'after',
  'module',
  'limit',
  'cause',
];

const STATUS_TEXT_MAX = 40;

/** An error raised by a node itself, with a polystat error code. */
class NodeError extends Error {
  constructor(code, message, field) {
    super(message);
    this.name = 'PolystatError';
    this.code = code;
    if (field !== undefined) {
      this.field = field;
    }
  }
}

function validationError(field, message) {
  return new NodeError('VALIDATION', message, field);
}

function configurationError(message, field) {
  return new NodeError('CONFIGURATION', message, field);
}

/**
 * Returns `{code, message, field?, ...}` for any thrown value. Errors that
 * did not come from polystat (a bug, a failed require) get no polystat code
 * and are reported as CONFIGURATION, because redeploying a fixed
 * configuration is the usual way out.
 */
function describeError(err) {
  const error = err instanceof Error ? err : new Error(String(err));
  const code = CODES.has(error.code) ? error.code : 'CONFIGURATION';
  const details = { code, message: error.message };
  for (const name of DETAIL_FIELDS) {
    const value = error[name];
    if (value !== undefined && value !== null && typeof value !== 'object') {
      details[name] = value;
    }
  }
  return details;
}

/**
 * Builds the error handed to Node-RED. Node-RED rebuilds `msg.error` for
 * Catch nodes from the error's message and its own `code`, `cause` and
 * `stack` properties, so those are set here.
 */
function toCatchable(err, details) {
  const error = new NodeError(details.code, details.message, details.field);
  if (typeof details.cause === 'string') {
    error.cause = details.cause;
  }
  if (err instanceof Error && err.stack) {
    error.stack = err.stack;
  }
  return error;
}

function shorten(text) {
  const line = String(text).split('\n')[0];
  if (line.length <= STATUS_TEXT_MAX) {
    return line;
  }
  return `${line.slice(0, STATUS_TEXT_MAX - 1)}…`;
}

/** Shows an error in the node's status badge. */
function showError(node, details) {
  node.status({ fill: 'red', shape: 'ring', text: shorten(`${details.code}: ${details.message}`) });
}

function showErrorStatus(node, err) {
  showError(node, describeError(err));
}

/**
 * Reports a failed message: sets `msg.error` to the error details, shows the
 * error in the status badge and calls `done(err)`, which passes the message
 * to Catch nodes. Node-RED moves the `msg.error` set here to `msg._error`
 * on the Catch node's copy and writes its own `msg.error` with `message`,
 * `code` and `source`.
 */
function reportError(node, msg, err, done) {
  const details = describeError(err);
  msg.error = details;
  showError(node, details);
  done(toCatchable(err, details));
}

/**
 * Reports an error that belongs to no message (a failed subscription or a
 * flush of no particular message) to the log and to Catch nodes.
 */
function reportNodeError(node, err) {
  const details = describeError(err);
  showError(node, details);
  node.error(toCatchable(err, details), { error: details });
}

module.exports = {
  NodeError,
  validationError,
  configurationError,
  describeError,
  reportError,
  reportNodeError,
  showErrorStatus,
  shorten,
};
