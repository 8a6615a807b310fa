'use strict';
// Reading deploy/k8s/*.yaml: the MPIJob manifests, and what the rehearsal
// and the schema test take from them (commands as Kubernetes runs them).
const fs = require('node:fs');
const path = require('node:path');
const yaml = require('js-yaml');

const K8S_DIR = path.resolve(__dirname, '..', '..', 'deploy', 'k8s');
const MANIFESTS = {
  v2beta1Cpu: 'mpijob-v2beta1-cpu.yaml',
  v2beta1Gpu: 'mpijob-v2beta1-gpu.yaml',
  v1Cpu: 'mpijob-v1-cpu.yaml',
};

function load(file) {
  const p = path.isAbsolute(file) ? file : path.join(K8S_DIR, file);
  const docs = yaml.loadAll(fs.readFileSync(p, 'utf8')).filter((d) => d != null);
  if (docs.length !== 1) throw new Error(`${p}: expected one YAML document, found ${docs.length}`);
  return docs[0];
}

function replica(job, type) {
  return job.spec.mpiReplicaSpecs[type];
}

function mainContainer(job, type) {
  const cs = replica(job, type).template.spec.containers;
  if (job.spec.mainContainer) return cs.find((c) => c.name === job.spec.mainContainer);
  return cs[0];
}

/**
 * The argv a container runs, as Kubernetes builds it: `command` replaces the
 * image's ENTRYPOINT, `args` its CMD. imageEntrypoint/imageCmd are the image's.
 */
function containerArgv(c, imageEntrypoint = [], imageCmd = []) {
  if (c.command) return [...c.command, ...(c.args || [])];
  return [...imageEntrypoint, ...(c.args || imageCmd)];
}

/** -np of an mpirun argv, or null. */
function npOf(argv) {
  const i = argv.findIndex((a) => a === '-np' || a === '-n' || a === '--np');
  return i >= 0 ? Number(argv[i + 1]) : null;
}

/** [[param, value]] of every --mca/-mca in an mpirun argv. */
function mcaOf(argv) {
  const out = [];
  for (let i = 0; i < argv.length - 2; i++) if (/^--?g?mca$/.test(argv[i])) out.push([argv[i + 1], argv[i + 2]]);
  return out;
}

module.exports = { K8S_DIR, MANIFESTS, load, replica, mainContainer, containerArgv, npOf, mcaOf };
