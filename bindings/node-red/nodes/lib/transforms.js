'use strict';

// The transform settings of the run-linker and evaluate nodes: a map of
// transform name to .wasm file, relative to a folder that may come from an
// environment variable.

const { evaluateFolder, parseJsonProperty, resolveTransforms } = require('./properties');

/**
 * Returns the transform map of a node configuration with absolute paths.
 * `transformsDir` with type `env` is expanded at deploy, so a flow can name
 * its folder with `${VARIABLE}`.
 */
function transformsOf(RED, node, config) {
  const map = parseJsonProperty(config.transforms, 'transforms', {});
  const folder = evaluateFolder(RED, node, config.transformsDir, config.transformsDirType);
  return resolveTransforms(map, folder);
}

module.exports = { transformsOf };
