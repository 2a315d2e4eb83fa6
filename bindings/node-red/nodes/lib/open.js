'use strict';

// Builds the options of Store.open from a polystat-store configuration and
// its credentials, and loads the polystat binding.

const { configurationError } = require('./errors');

const URL_PROPERTIES = [
  { url: 'relationalUrl', password: 'relationalPassword', label: 'relational' },
  { url: 'documentsUrl', password: 'documentsPassword', label: 'documents' },
  { url: 'cacheUrl', password: 'cachePassword', label: 'cache' },
];

// Node-RED leaves `${NAME}` in place when the variable is not set.
function checkSubstituted(value, field) {
  const match = /^\$\{(\S+)\}$/.exec(value);
  if (match) {
    throw configurationError(`${field} names the environment variable ${match[1]}, which is not set`, field);
  }
}

function parseUrl(url, label) {
  try {
    return new URL(url);
  } catch {
    throw configurationError(`${label} URL ${JSON.stringify(url)} is not a valid URL`, `${label}Url`);
  }
}

/**
 * Rejects a URL that contains a password, so that passwords stay in the
 * credentials file and out of the flow file.
 */
function checkNoPassword(url, label) {
  if (!url.includes('://')) {
    return;
  }
  if (parseUrl(url, label).password !== '') {
    throw configurationError(
      `the ${label} URL contains a password; remove it from the URL and enter it in the ${label} password field`,
      `${label}Url`,
    );
  }
}

/** Returns `url` with `password` set in its user information. */
function insertPassword(url, password, label) {
  if (!url) {
    throw configurationError(
      `a ${label} password is set but the ${label} URL is empty; enter the URL or clear the password`,
      `${label}Url`,
    );
  }
  // SQLite files and the in-process cache (`memory`) have no login.
  if (url.startsWith('sqlite:') || !url.includes('://')) {
    throw configurationError(`the ${label} URL ${url} takes no password; clear the ${label} password`, `${label}Url`);
  }
  const parsed = parseUrl(url, label);
  parsed.password = password;
  return parsed.toString();
}

/**
 * Returns the options of Store.open. Empty fields are left out, so the
 * binding falls back to the POLYSTAT_* environment variables and its
 * defaults.
 */
function buildOpenOptions(settings, credentials) {
  const options = {};
  const creds = credentials || {};
  for (const { url: urlKey, password: passwordKey, label } of URL_PROPERTIES) {
    const url = (settings[urlKey] || '').trim();
    const password = creds[passwordKey] || '';
    if (url) {
      checkSubstituted(url, urlKey);
      checkNoPassword(url, label);
    }
    if (password) {
      options[urlKey] = insertPassword(url, password, label);
    } else if (url) {
      options[urlKey] = url;
    }
  }
  if (creds.masterKey) {
    options.masterKey = creds.masterKey;
  }
  const dataRoot = (settings.dataRoot || '').trim();
  if (dataRoot) {
    checkSubstituted(dataRoot, 'dataRoot');
    options.dataRoot = dataRoot;
  }
  return options;
}

/**
 * Loads the polystat binding when a store is first opened, so that the
 * nodes still register in the editor when the native addon is missing.
 */
function loadBinding() {
  try {
    return require('polystat');
  } catch (err) {
    throw configurationError(
      `the polystat Node package could not be loaded (${err.message}); build it with bindings/node/build.sh`,
    );
  }
}

module.exports = { buildOpenOptions, loadBinding, checkNoPassword };
