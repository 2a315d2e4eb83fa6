// Editor test: starts a real Node-RED on 127.0.0.1 with this package in
// `nodesDir` and opens the editor in headless Chromium. It checks the
// palette, imports examples/node-red/cm3-flow.json through the import
// dialog and deploys it. Then it checks that the deploy and every polystat
// node succeeded, presses the inject button and waits for the stored
// computation.
//
// The browser may load pages from the Node-RED under test only; any other
// request is aborted and fails the test. Exits non-zero on failure.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const { chooseJob, storeEnv, runEvaluate, readFlowFor, REPO_ROOT } = require('./jobs.js');

const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.POLYSTAT_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--metrics-recording-only',
  '--disable-default-apps',
];
const POLYSTAT_PALETTE_TYPES = [
  'polystat-store-computations',
  'polystat-query',
  'polystat-run-linker',
  'polystat-evaluate',
  'polystat-changes',
];
const STARTUP_TIMEOUT_MS = 60000;
const FLOW_TIMEOUT_MS = 120000;

function log(message) {
  process.stdout.write(`editor test: ${message}\n`);
}

/** Returns a TCP port that is free on 127.0.0.1 now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Writes a settings file that keeps Node-RED on loopback and offline. */
function writeSettings(userDir, port) {
  const settings = {
    uiHost: '127.0.0.1',
    uiPort: port,
    userDir,
    flowFile: 'flows.json',
    nodesDir: [PACKAGE_DIR],
    telemetry: { enabled: false, updateNotification: false },
    externalModules: {
      autoInstall: false,
      palette: { allowInstall: false, allowUpload: false, allowUpdate: false },
      modules: { allowInstall: false },
    },
    editorTheme: { palette: { catalogues: [] }, tours: false, projects: { enabled: false } },
    diagnostics: { enabled: false },
    logging: { console: { level: 'info', metrics: false, audit: false } },
  };
  const file = path.join(userDir, 'settings.js');
  fs.writeFileSync(file, `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
  return file;
}

/** Starts Node-RED and resolves once its admin API responds on `port`. */
async function startNodeRed(userDir, port, env) {
  const red = require.resolve('node-red/red.js');
  const settingsFile = writeSettings(userDir, port);
  const child = spawn(process.execPath, [red, '--settings', settingsFile, '--userDir', userDir], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = [];
  child.stdout.on('data', (chunk) => output.push(chunk.toString()));
  child.stderr.on('data', (chunk) => output.push(chunk.toString()));
  child.output = output;

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`Node-RED exited with code ${child.exitCode}:\n${output.join('')}`);
    }
    try {
      const response = await fetch(`http://127.0.0.1:${port}/settings`);
      if (response.ok) {
        return child;
      }
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  child.kill('SIGINT');
  throw new Error(`Node-RED did not respond within ${STARTUP_TIMEOUT_MS} ms:\n${output.join('')}`);
}

function stopNodeRed(child) {
  if (!child || child.exitCode !== null) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGINT');
  });
}

/** Aborts every request that is not for the Node-RED under test and records it. */
async function allowOnlyNodeRed(page, origin) {
  const blocked = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`) || url.startsWith('data:') || url.startsWith('blob:')) {
      return route.continue();
    }
    blocked.push(url);
    return route.abort();
  });
  return blocked;
}

async function openEditor(page, origin) {
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => window.RED && RED.nodes && RED.nodes.getType('inject'), null, {
    timeout: STARTUP_TIMEOUT_MS,
  });
  await page.waitForSelector('#red-ui-palette-container', { timeout: STARTUP_TIMEOUT_MS });
}

async function checkPalette(page) {
  for (const type of POLYSTAT_PALETTE_TYPES) {
    const entry = page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
    await entry.waitFor({ state: 'attached', timeout: 10000 });
  }
  const registered = await page.evaluate(() => Boolean(RED.nodes.getType('polystat-store')));
  if (!registered) {
    throw new Error('the polystat-store config node is not registered in the editor');
  }
  log(`palette has ${POLYSTAT_PALETTE_TYPES.join(', ')}`);
}

/** Imports the flow with the editor's import dialog (Ctrl+I). */
async function importFlow(page, flow) {
  await page.locator('#red-ui-workspace-chart').click({ position: { x: 300, y: 300 } });
  await page.keyboard.press('Control+i');
  const text = page.locator('#red-ui-clipboard-dialog-import-text');
  await text.waitFor({ state: 'visible', timeout: 10000 });
  await text.fill(JSON.stringify(flow));
  // The dialog checks the text, and enables Import, on keyup; fill() sends none.
  await text.dispatchEvent('keyup');
  await page.locator('#red-ui-clipboard-dialog-ok').click();
  await text.waitFor({ state: 'hidden', timeout: 10000 });
  const imported = await page.evaluate(
    (ids) => ids.filter((id) => RED.nodes.node(id) || RED.nodes.workspace(id)).length,
    flow.map((node) => node.id),
  );
  if (imported !== flow.length) {
    throw new Error(`the editor imported ${imported} of ${flow.length} nodes`);
  }
  log(`imported ${flow.length} nodes`);
}

/** Returns the texts of the visible notifications of `kind` (error, warning, success). */
function notificationsOf(page, kind) {
  return page.locator(`.red-ui-notification-${kind}:visible`).allInnerTexts();
}

/** Clicks Deploy and waits until the editor has no undeployed changes. */
async function deploy(page) {
  await page.locator('#red-ui-header-button-deploy').click();
  const deployed = await page
    .waitForFunction(() => !RED.nodes.dirty(), null, { timeout: 20000 })
    .then(() => true)
    .catch(() => false);
  const dialogs = await page.locator('.ui-dialog:visible').allInnerTexts();
  if (dialogs.length > 0) {
    throw new Error(`deploy opened a dialog instead of deploying: ${dialogs.join(' | ')}`);
  }
  const errors = await notificationsOf(page, 'error');
  if (!deployed || errors.length > 0) {
    throw new Error(`deploy failed: ${errors.join(' | ') || 'the editor still has undeployed changes'}`);
  }
  const successes = await notificationsOf(page, 'success');
  log(`deployed: ${successes.join(' | ').trim()}`);
}

/** Returns `{type, id, valid, status}` of every polystat node in the editor. */
function polystatNodes(page) {
  return page.evaluate(() => {
    const nodes = [];
    RED.nodes.eachNode((node) => {
      if (node.type.startsWith('polystat-')) {
        nodes.push({ type: node.type, id: node.id, valid: node.valid, status: node.status || null });
      }
    });
    RED.nodes.eachConfig((node) => {
      if (node.type.startsWith('polystat-')) {
        nodes.push({ type: node.type, id: node.id, valid: node.valid, status: null });
      }
    });
    return nodes;
  });
}

async function checkNodes(page) {
  // Status badges arrive over the editor's websocket after the deploy.
  await page.waitForTimeout(1500);
  const nodes = await polystatNodes(page);
  const problems = nodes.filter((node) => node.valid === false || (node.status && node.status.fill === 'red'));
  if (problems.length > 0) {
    throw new Error(`nodes with errors after deploy: ${JSON.stringify(problems)}`);
  }
  const errors = await notificationsOf(page, 'error');
  if (errors.length > 0) {
    throw new Error(`error notifications after deploy: ${errors.join(' | ')}`);
  }
  log(`${nodes.length} polystat nodes are valid and show no error`);
}

/** Presses the inject button and waits until the store node reports the stored computation. */
async function runFlow(page) {
  const [tabId, injectId, storeId] = await page.evaluate(() => {
    const nodes = {};
    RED.nodes.eachNode((node) => {
      nodes[node.type] = node;
    });
    return [nodes.inject.z, nodes.inject.id, nodes['polystat-store-computations'].id];
  });
  // The import opened the flow in a tab of its own; show that tab.
  await page.locator(`#red-ui-tab-${tabId} a`).first().click();
  // Forget the status of an earlier run, so that only this run's counts.
  await page.evaluate((id) => {
    RED.nodes.node(id).status = null;
  }, storeId);
  await page.locator(`[id="${injectId}"] .red-ui-flow-node-button`).click();
  // Wait until the store node reports the stored computation or any
  // polystat node fails.
  const outcome = await page
    .waitForFunction(
      (id) => {
        let failed = null;
        RED.nodes.eachNode((node) => {
          if (node.type.startsWith('polystat-') && node.status && node.status.fill === 'red') {
            failed = { type: node.type, text: node.status.text };
          }
        });
        const status = RED.nodes.node(id).status;
        if (failed || (status && /^stored /.test(status.text || ''))) {
          return { failed, status };
        }
        return null;
      },
      storeId,
      { timeout: FLOW_TIMEOUT_MS, polling: 200 },
    )
    .then((handle) => handle.jsonValue());
  if (outcome.failed) {
    throw new Error(`the ${outcome.failed.type} node failed: ${outcome.failed.text}`);
  }
  const { status } = outcome;
  log(`flow ran: store computations node shows "${status.text}"`);
}

/**
 * Opens the store config node from the run linker node's edit dialog,
 * checks that the form rejects a URL with a password, enters `masterKey`
 * and closes both dialogs.
 */
async function enterMasterKey(page, masterKey) {
  const linkerId = await page.evaluate(() => {
    let id = null;
    RED.nodes.eachNode((node) => {
      if (node.type === 'polystat-run-linker') {
        id = node.id;
      }
    });
    return id;
  });
  await page.locator(`[id="${linkerId}"] .red-ui-flow-node`).dblclick();
  await page.locator('#node-input-btn-store-edit').click();
  const url = page.locator('#node-config-input-relationalUrl');
  await url.waitFor({ state: 'visible', timeout: 10000 });

  // The form validates on keyup, which fill() does not send. Typing key by
  // key instead races with the focus changes of the opening edit tray.
  await url.fill('postgres://polystat:secret@127.0.0.1:5432/polystat');
  await url.dispatchEvent('keyup');
  await page.waitForFunction(() => $('#node-config-input-relationalUrl').hasClass('input-error'), null, {
    timeout: 5000,
  });
  await url.fill('');
  await url.dispatchEvent('keyup');
  await page.waitForFunction(() => !$('#node-config-input-relationalUrl').hasClass('input-error'), null, {
    timeout: 5000,
  });
  log('the store form rejects a URL with a password');

  await page.locator('#node-config-input-masterKey').fill(masterKey);
  await page.locator('#node-config-dialog-ok').click();
  await url.waitFor({ state: 'detached', timeout: 10000 });
  await page.locator('#node-dialog-ok').click();
}

/** Checks that the master key went to the credentials file only, and not as plain text. */
function checkCredentialsFiles(userDir, masterKey) {
  const flows = fs.readFileSync(path.join(userDir, 'flows.json'), 'utf8');
  if (flows.includes(masterKey)) {
    throw new Error('flows.json contains the master key');
  }
  const store = JSON.parse(flows).find((node) => node.type === 'polystat-store');
  if (!store || store.credentials !== undefined || store.masterKey !== undefined) {
    throw new Error(`flows.json has credentials in the store node: ${JSON.stringify(store)}`);
  }
  const credentialsFile = path.join(userDir, 'flows_cred.json');
  if (!fs.existsSync(credentialsFile)) {
    throw new Error('Node-RED wrote no flows_cred.json');
  }
  if (fs.readFileSync(credentialsFile, 'utf8').includes(masterKey)) {
    throw new Error('flows_cred.json contains the master key as plain text');
  }
  log('the master key is in the encrypted credentials file only');
}

/** Counts the computations in the store, through the binding. */
async function countComputations(env) {
  const { Store } = require('polystat');
  const store = await Store.open({
    relationalUrl: env.POLYSTAT_RELATIONAL_URL,
    documentsUrl: env.POLYSTAT_DOCUMENTS_URL,
    cacheUrl: 'memory',
  });
  try {
    return await store.computations.count({});
  } finally {
    await store.close();
  }
}

async function main() {
  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'polystat-nr-editor-'));
  const userDir = path.join(tempDir, 'node-red');
  fs.mkdirSync(userDir);
  const { job, dataDir } = chooseJob();
  const env = { ...storeEnv(tempDir), POLYSTAT_DATA_ROOT: dataDir, POLYSTAT_ROOT: REPO_ROOT };
  runEvaluate(job, dataDir, env);
  log(`store prepared with ${path.relative(REPO_ROOT, job)}`);

  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  let nodeRed = null;
  let browser = null;
  let blocked = [];
  try {
    nodeRed = await startNodeRed(userDir, port, env);
    log(`Node-RED is listening on ${origin}`);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
    const page = await browser.newPage();
    const pageErrors = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    blocked = await allowOnlyNodeRed(page, origin);

    await openEditor(page, origin);
    await checkPalette(page);
    await importFlow(page, readFlowFor(job));
    await deploy(page);
    await checkNodes(page);
    await runFlow(page);

    // A valid key: the store opens with it on the second run.
    const masterKey = crypto.randomBytes(32).toString('base64');
    await enterMasterKey(page, masterKey);
    await deploy(page);
    checkCredentialsFiles(userDir, masterKey);
    await checkNodes(page);
    await runFlow(page);
    // One computation from polystat evaluate, one from each run of the flow.
    const stored = await countComputations(env);
    if (stored !== 3) {
      throw new Error(`the store has ${stored} computations, expected 3`);
    }
    log('the store has the computation of polystat evaluate and one per run');

    if (blocked.length > 0) {
      throw new Error(`the editor requested pages outside ${origin}: ${blocked.join(', ')}`);
    }
    if (pageErrors.length > 0) {
      throw new Error(`the editor raised errors: ${pageErrors.join(' | ')}`);
    }
    log('passed');
  } catch (error) {
    if (blocked.length > 0) {
      process.stderr.write(`aborted requests outside ${origin}: ${blocked.join(', ')}\n`);
    }
    if (nodeRed) {
      process.stderr.write(`Node-RED output:\n${nodeRed.output.join('')}\n`);
    }
    throw error;
  } finally {
    if (browser) {
      await browser.close();
    }
    await stopNodeRed(nodeRed);
    fs.rmSync(tempDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`editor test failed: ${error.stack || error}\n`);
  process.exit(1);
});
