/**
 * Host lists for the `hvdrun` launcher.
 *
 * Two input forms are understood:
 *
 * - the `-H` / `--hosts` argument: `host1:2,host2:4` (a host without `:N`
 *   gets one slot, and a host named twice has its slots added up, as
 *   OpenMPI's own `-H` does);
 * - a hostfile, one host per line, in either OpenMPI's form
 *   (`host slots=N [max_slots=M]`) or Horovod's form (`host:N`). `#` starts
 *   a comment; blank lines are ignored.
 *
 * OpenMPI's `--hostfile` only accepts its own form, so a hostfile that uses
 * `host:N` lines is rewritten into a temporary OpenMPI hostfile
 * ({@link writeTempHostfile}) before it is handed to `mpirun`.
 *
 * @packageDocumentation
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** One host and the number of process slots it offers. */
export interface HostSlots {
  /** Host name or address as given (may be `user@host`). */
  host: string;
  /** Number of slots (ranks) the host may run; a positive integer. */
  slots: number;
}

/** Characters allowed in a host entry (`[user@]host` or an IPv4 address). */
const HOST_RE = /^(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9._-]+$/;

function parseSlots(text: string, where: string): number {
  if (!/^\d+$/.test(text)) {
    throw new Error(`${where}: slot count "${text}" is not a positive integer`);
  }
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new Error(`${where}: slot count "${text}" is not a positive integer`);
  }
  return n;
}

function checkHost(host: string, where: string): string {
  if (!HOST_RE.test(host)) {
    throw new Error(`${where}: invalid host name "${host}"`);
  }
  return host;
}

/** Adds `entry` to `list`, summing the slots of a host already listed. */
function addHost(list: HostSlots[], entry: HostSlots): void {
  const existing = list.find((h) => h.host === entry.host);
  if (existing) existing.slots += entry.slots;
  else list.push({ host: entry.host, slots: entry.slots });
}

/**
 * Parses a `-H` argument such as `host1:2,host2:2`.
 *
 * @param spec - comma-separated `host[:slots]` entries.
 * @returns the hosts in order of first appearance; repeated hosts have their
 *   slots summed.
 * @throws Error on an empty list, a bad host name or a bad slot count.
 */
export function parseHostsArg(spec: string): HostSlots[] {
  const hosts: HostSlots[] = [];
  for (const raw of spec.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const where = `-H entry "${item}"`;
    const colon = item.lastIndexOf(':');
    if (colon === -1) {
      addHost(hosts, { host: checkHost(item, where), slots: 1 });
    } else {
      addHost(hosts, {
        host: checkHost(item.slice(0, colon), where),
        slots: parseSlots(item.slice(colon + 1), where),
      });
    }
  }
  if (hosts.length === 0) throw new Error(`-H: no hosts given in "${spec}"`);
  return hosts;
}

/** Result of {@link parseHostfileText}. */
export interface ParsedHostfile {
  /** The hosts, in order of first appearance, duplicates summed. */
  hosts: HostSlots[];
  /**
   * True when every line is already in a form OpenMPI's `--hostfile`
   * understands (`host` or `host slots=N ...`), so the file can be passed
   * through unchanged; false when some line uses the `host:N` form.
   */
  openMpiCompatible: boolean;
}

/**
 * Parses the text of a hostfile in OpenMPI form (`host slots=N
 * [max_slots=M]`) or Horovod form (`host:N`), or a mix of both. A line with
 * just a host name gives that host one slot.
 *
 * @param text - the hostfile contents.
 * @param name - the file name, used in error messages.
 * @throws Error on a malformed line or when the file lists no hosts.
 */
export function parseHostfileText(text: string, name = 'hostfile'): ParsedHostfile {
  const hosts: HostSlots[] = [];
  let openMpiCompatible = true;
  const lines = text.split(/\r?\n/);
  lines.forEach((rawLine, i) => {
    const hash = rawLine.indexOf('#');
    const line = (hash === -1 ? rawLine : rawLine.slice(0, hash)).trim();
    if (line === '') return;
    const where = `${name}:${i + 1}`;
    const [first, ...rest] = line.split(/\s+/);
    let host = first;
    let slots: number | undefined;
    const colon = first.lastIndexOf(':');
    if (colon !== -1) {
      host = first.slice(0, colon);
      slots = parseSlots(first.slice(colon + 1), where);
      openMpiCompatible = false;
    }
    checkHost(host, where);
    for (const token of rest) {
      const m = /^([A-Za-z_-]+)\s*=\s*(\S+)$/.exec(token);
      if (!m) throw new Error(`${where}: cannot parse "${token}" (expected key=value)`);
      const key = m[1].toLowerCase().replace(/-/g, '_');
      if (key === 'slots' || key === 'count' || key === 'cpu') {
        if (slots !== undefined) throw new Error(`${where}: slots given twice`);
        slots = parseSlots(m[2], where);
      } else if (key === 'max_slots') {
        parseSlots(m[2], where); // validated; the limit is left to OpenMPI
      } else {
        throw new Error(`${where}: unknown hostfile keyword "${m[1]}"`);
      }
    }
    addHost(hosts, { host, slots: slots ?? 1 });
  });
  if (hosts.length === 0) throw new Error(`${name}: no hosts listed`);
  return { hosts, openMpiCompatible };
}

/**
 * Reads and parses a hostfile from disk.
 *
 * @param file - path of the hostfile.
 * @throws Error when the file cannot be read or is malformed.
 */
export function readHostfile(file: string): ParsedHostfile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read hostfile ${file}: ${(err as Error).message}`);
  }
  return parseHostfileText(text, file);
}

/** Total number of slots over `hosts`. */
export function totalSlots(hosts: readonly HostSlots[]): number {
  return hosts.reduce((sum, h) => sum + h.slots, 0);
}

/** Formats hosts for OpenMPI's `-H` option: `host1:2,host2:2`. */
export function formatHostsArg(hosts: readonly HostSlots[]): string {
  return hosts.map((h) => `${h.host}:${h.slots}`).join(',');
}

/** Formats hosts as an OpenMPI hostfile (`host slots=N` lines). */
export function formatOpenMpiHostfile(hosts: readonly HostSlots[]): string {
  return hosts.map((h) => `${h.host} slots=${h.slots}\n`).join('');
}

/** A temporary file and the function that removes it. */
export interface TempHostfile {
  /** Absolute path of the written hostfile. */
  path: string;
  /** Removes the file and its directory; safe to call more than once. */
  cleanup(): void;
}

/**
 * Writes `hosts` to a fresh OpenMPI-format hostfile in a private temporary
 * directory.
 *
 * @returns the path and a cleanup function the caller must call when
 *   `mpirun` has finished.
 */
export function writeTempHostfile(hosts: readonly HostSlots[]): TempHostfile {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvdrun-'));
  const file = path.join(dir, 'hostfile');
  fs.writeFileSync(file, formatOpenMpiHostfile(hosts), { mode: 0o600 });
  let done = false;
  return {
    path: file,
    cleanup(): void {
      if (done) return;
      done = true;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * True when `host` names this machine (`localhost`, a loopback address, or
 * this machine's host name, with or without a `user@` prefix).
 */
export function isLocalHost(host: string): boolean {
  const h = host.includes('@') ? host.slice(host.indexOf('@') + 1) : host;
  const me = os.hostname();
  return (
    h === 'localhost' ||
    h === '::1' ||
    /^127\.\d+\.\d+\.\d+$/.test(h) ||
    h === me ||
    h === me.split('.')[0]
  );
}
