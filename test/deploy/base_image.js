'use strict';
// A local stand-in for the official base image node:20-bookworm-slim, so that
// deploy/docker/Dockerfile builds unchanged where no registry can be reached:
// `debootstrap --variant=minbase bookworm` plus this machine's Node 20 (node,
// npm, the headers under include/node), laid out as the official image lays
// them out (/usr/local), with its user `node` (uid 1000) and its
// ENTRYPOINT/CMD, imported under the official name. The root filesystem
// tarball is cached under STATE_DIR/cache (keyed by the Node version); a
// fresh machine builds it in about a minute.

const childProcess = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { STATE_DIR, podman } = require('./podman');

const BASE_NAME = 'docker.io/library/node:20-bookworm-slim';
const MIRROR = process.env.HVD_DEPLOY_DEBIAN_MIRROR || 'http://deb.debian.org/debian';
const STANDIN_LABEL = 'hvd-deploy-standin';

// What the official image's docker-entrypoint.sh does (written from its
// documented behaviour): run node when the first argument is an option or not
// a command, else exec the arguments. deploy/docker/Dockerfile resets it.
const ENTRYPOINT_SH = `#!/bin/sh
set -e
if [ "\${1#-}" != "\${1}" ] || [ -z "$(command -v "\${1}" 2>/dev/null)" ]; then
  set -- node "$@"
fi
exec "$@"
`;

function sh(cmd, opts = {}) {
  const r = childProcess.spawnSync('sh', ['-ec', cmd], { stdio: opts.quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit', encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`failed (exit ${r.status}): ${cmd}\n${r.stderr || ''}`);
  return r.stdout;
}

function nodeLayout() {
  const node = process.execPath;
  const prefix = path.dirname(path.dirname(fs.realpathSync(node)));
  const npmDir = [path.join(prefix, 'lib', 'node_modules', 'npm'), '/usr/lib/node_modules/npm', '/usr/share/nodejs/npm'].find((d) => fs.existsSync(path.join(d, 'bin', 'npm-cli.js')));
  const include = path.join(prefix, 'include', 'node');
  if (!npmDir) throw new Error(`cannot find npm next to ${node}`);
  if (!fs.existsSync(path.join(include, 'node.h'))) throw new Error(`cannot find the Node headers (${include}/node.h)`);
  return { node, npmDir, include };
}

/** Builds (or reuses) the rootfs tarball; returns its path. */
function ensureTarball(log) {
  const cacheDir = path.join(STATE_DIR, 'cache');
  const tarball = path.join(cacheDir, `bookworm-minbase-node${process.version}.tar`);
  if (fs.existsSync(tarball)) {
    log(`base stand-in: cached root filesystem ${tarball}`);
    return tarball;
  }
  const t0 = Date.now();
  const { node, npmDir, include } = nodeLayout();
  const root = path.join(cacheDir, `rootfs.${process.pid}`);
  fs.mkdirSync(cacheDir, { recursive: true });
  fs.rmSync(root, { recursive: true, force: true });
  try {
    log(`base stand-in: debootstrap --variant=minbase bookworm (${MIRROR})`);
    sh(`debootstrap --variant=minbase bookworm '${root}' '${MIRROR}' > '${cacheDir}/debootstrap.log' 2>&1 || { tail -20 '${cacheDir}/debootstrap.log'; exit 1; }`);
    log(`base stand-in: adding Node ${process.version} from ${node}`);
    sh(`mkdir -p '${root}/usr/local/bin' '${root}/usr/local/lib/node_modules' '${root}/usr/local/include'
      cp '${node}' '${root}/usr/local/bin/node'
      cp -a '${npmDir}' '${root}/usr/local/lib/node_modules/npm'
      cp -a '${include}' '${root}/usr/local/include/node'
      ln -sf ../lib/node_modules/npm/bin/npm-cli.js '${root}/usr/local/bin/npm'
      ln -sf ../lib/node_modules/npm/bin/npx-cli.js '${root}/usr/local/bin/npx'
      chroot '${root}' groupadd --gid 1000 node
      chroot '${root}' useradd --uid 1000 --gid node --shell /bin/bash --create-home node
      chroot '${root}' apt-get clean
      rm -rf '${root}/var/lib/apt/lists/'* '${root}/var/cache/apt/'*.bin '${root}/var/log/'*.log`);
    fs.writeFileSync(path.join(root, 'usr/local/bin/docker-entrypoint.sh'), ENTRYPOINT_SH, { mode: 0o755 });
    sh(`tar -C '${root}' --numeric-owner -cf '${tarball}.tmp' . && mv '${tarball}.tmp' '${tarball}'`);
  } finally {
    sh(`for m in proc sys dev/pts dev; do umount -l '${root}'/$m 2>/dev/null || true; done; rm -rf '${root}'`);
  }
  log(`base stand-in: root filesystem ${(fs.statSync(tarball).size / 1e6).toFixed(0)} MB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return tarball;
}

/** True when an image of that name is in the store. */
function imageExists(name) {
  return podman(['image', 'exists', name], { check: false }).status === 0;
}

/**
 * Makes BASE_NAME available: the real image if it is already in the store
 * (pulled on a machine with a registry), else the stand-in. Returns
 * { name, standIn, seconds }.
 */
function ensureBaseImage(log = () => {}) {
  const t0 = Date.now();
  if (imageExists(BASE_NAME)) {
    const standIn = podman(['image', 'inspect', '--format', `{{index .Labels "${STANDIN_LABEL}"}}`, BASE_NAME], { check: false }).stdout.trim() === '1';
    log(`base image ${BASE_NAME} already in the store${standIn ? ' (stand-in)' : ''}`);
    return { name: BASE_NAME, standIn, seconds: 0 };
  }
  const tarball = ensureTarball(log);
  podman([
    'import',
    '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    '--change', `ENV NODE_VERSION=${process.version.slice(1)}`,
    '--change', `LABEL ${STANDIN_LABEL}=1`,
    '--change', 'ENTRYPOINT ["docker-entrypoint.sh"]',
    '--change', 'CMD ["node"]',
    tarball, BASE_NAME,
  ], { timeoutMs: 300000 });
  const seconds = (Date.now() - t0) / 1000;
  log(`base stand-in imported as ${BASE_NAME} in ${seconds.toFixed(1)} s`);
  return { name: BASE_NAME, standIn: true, seconds };
}

/** Removes the stand-in (never a real pulled image). */
function removeStandIn(log = () => {}) {
  if (!imageExists(BASE_NAME)) return;
  const standIn = podman(['image', 'inspect', '--format', `{{index .Labels "${STANDIN_LABEL}"}}`, BASE_NAME], { check: false }).stdout.trim() === '1';
  if (standIn) {
    podman(['rmi', '-f', BASE_NAME], { check: false, timeoutMs: 120000 });
    log(`removed the base stand-in ${BASE_NAME}`);
  }
}

module.exports = { BASE_NAME, ensureBaseImage, removeStandIn };
