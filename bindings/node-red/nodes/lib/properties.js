'use strict';

// Parsing of node properties that the editor stores as strings (JSON fields,
// folders that may name environment variables, transform maps).

const path = require('path');
const { configurationError, validationError } = require('./errors');

const ENTITIES = [
  'users',
  'catalogs',
  'controls',
  'scopes',
  'secrets',
  'service_accounts',
  'computations',
  'guarantee_points',
  'mashups',
  'datasources',
  'linkers',
  'folders',
];

/**
 * Parses a JSON property of the node configuration. An empty value gives
 * `fallback`; invalid JSON raises CONFIGURATION naming the property.
 */
function parseJsonProperty(text, property, fallback) {
  if (text === undefined || text === null || String(text).trim() === '') {
    return fallback;
  }
  if (typeof text !== 'string') {
    return text;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw configurationError(`${property} is not valid JSON: ${err.message}`, property);
  }
}

function isPlainObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Raises VALIDATION unless `value` is a JSON object. */
function requireObject(value, field) {
  if (!isPlainObject(value)) {
    throw validationError(field, `${field} must be a JSON object, got ${describeType(value)}`);
  }
  return value;
}

function describeType(value) {
  if (value === null) {
    return 'null';
  }
  return Array.isArray(value) ? 'an array' : typeof value;
}

/**
 * Evaluates a typed input of type `str` or `env`. With `env`, the value is
 * a variable name or a string with `${NAME}` references. Node-RED itself
 * replaces a property that is exactly `${NAME}` before the node starts, so
 * a value that is neither of the two has been replaced already.
 */
function evaluateFolder(RED, node, value, type) {
  if (!value) {
    return '';
  }
  const isVariableName = /^[A-Za-z_][A-Za-z0-9_]*$/.test(value);
  if (type === 'env' && (isVariableName || value.includes('${'))) {
    return RED.util.evaluateNodeProperty(value, 'env', node);
  }
  const unset = /^\$\{(\S+)\}$/.exec(value);
  if (unset) {
    throw configurationError(`the folder names the environment variable ${unset[1]}, which is not set`, 'transformsDir');
  }
  return value;
}

/**
 * Resolves the transform map (name to .wasm file) against `folder`.
 * Relative paths resolve against the folder, or against the working
 * directory of Node-RED when the folder is empty.
 */
function resolveTransforms(map, folder) {
  requireObject(map, 'transforms');
  const resolved = {};
  for (const [name, file] of Object.entries(map)) {
    if (typeof file !== 'string' || file === '') {
      throw configurationError(`transform ${name} needs a .wasm file path`, 'transforms');
    }
    resolved[name] = path.resolve(folder || process.cwd(), file);
  }
  return resolved;
}

module.exports = {
  ENTITIES,
  parseJsonProperty,
  isPlainObject,
  requireObject,
  describeType,
  evaluateFolder,
  resolveTransforms,
};
