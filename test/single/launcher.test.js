'use strict';
// Tests for the hvdrun launcher (src/launcher/*.ts, compiled to dist/).
// Unit tests cover argument parsing, the mpirun command line and hostfiles;
// the end-to-end tests really run mpirun through bin/hvdrun.js.

const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const launcher = require('../../dist/launcher/hvdrun.js');
const hostfile = require('../../dist/launcher/hostfile.js');

const {
  parseArgs,
  buildMpirunCommand,
  shellSplit,
  shellQuote,
  formatCheckBuild,
  forwardedEnvNames,
  NETWORK_FAULT_TOLERANCE_DEFAULTS,
  UsageError,
  USAGE,
} = launcher;

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'hvdrun.js');
const KEEPALIVE = [
  '--mca', 'oob_tcp_keepalive_time', '5',
  '--mca', 'oob_tcp_keepalive_intvl', '2',
  '--mca', 'oob_tcp_keepalive_probes', '3',
];
const YIELD = ['--mca', 'mpi_yield_when_idle', '1'];

/** Asserts that `fn` throws a usage error whose message mentions `re`. */
function throwsUsage(fn, re) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof UsageError, `expected UsageError, got ${err}`);
    assert.ok(err instanceof Error);
    assert.match(err.message, re);
    assert.match(err.message, /usage: hvdrun/);
    return true;
  });
}

/** Index of the sub-array `needle` in `hay`, or -1. */
function indexOfSeq(hay, needle) {
  for (let i = 0; i + needle.length <= hay.length; i++) {
    if (needle.every((v, j) => hay[i + j] === v)) return i;
  }
  return -1;
}

describe('hvdrun parseArgs', () => {
  it('parses -np and the command after --', () => {
    const o = parseArgs(['-np', '2', '--', 'node', 'train.js', '--epochs', '3']);
    assert.equal(o.numProc, 2);
    assert.deepEqual(o.command, ['node', 'train.js', '--epochs', '3']);
    assert.equal(o.verbose, false);
    assert.equal(o.tcp, false);
    assert.equal(o.hosts, undefined);
    assert.equal(o.hostfile, undefined);
    assert.deepEqual(o.mpiArgs, []);
    assert.deepEqual(o.env, {});
  });

  it('accepts -n, --num-proc and --num-proc=N', () => {
    assert.equal(parseArgs(['-n', '3', 'x']).numProc, 3);
    assert.equal(parseArgs(['--num-proc', '4', 'x']).numProc, 4);
    assert.equal(parseArgs(['--num-proc=5', 'x']).numProc, 5);
  });

  it('starts the command at the first non-option argument', () => {
    const o = parseArgs(['-np', '2', 'node', 'a.js', '--verbose', '-np', '9']);
    assert.equal(o.numProc, 2);
    assert.equal(o.verbose, false);
    assert.deepEqual(o.command, ['node', 'a.js', '--verbose', '-np', '9']);
  });

  it('parses -H and --hosts', () => {
    assert.deepEqual(parseArgs(['-np', '4', '-H', 'a:2,b:2', 'x']).hosts, [
      { host: 'a', slots: 2 },
      { host: 'b', slots: 2 },
    ]);
    assert.deepEqual(parseArgs(['-np', '1', '--hosts=a', 'x']).hosts, [{ host: 'a', slots: 1 }]);
  });

  it('parses --hostfile', () => {
    assert.equal(parseArgs(['-np', '4', '--hostfile', 'hosts.txt', 'x']).hostfile, 'hosts.txt');
  });

  it('rejects -H together with --hostfile', () => {
    throwsUsage(() => parseArgs(['-np', '2', '-H', 'a:2', '--hostfile', 'f', 'x']), /not both/);
    throwsUsage(() => parseArgs(['-np', '2', '--hostfile', 'f', '-H', 'a:2', 'x']), /not both/);
  });

  it('rejects a bad -H list', () => {
    throwsUsage(() => parseArgs(['-np', '2', '-H', 'a:0', 'x']), /positive integer/);
    throwsUsage(() => parseArgs(['-np', '2', '-H', 'a:b:c', 'x']), /-H/);
    throwsUsage(() => parseArgs(['-np', '2', '-H', ',', 'x']), /no hosts/);
  });

  it('requires -np and a command', () => {
    throwsUsage(() => parseArgs(['node', 'x.js']), /-np N is required/);
    throwsUsage(() => parseArgs(['-np', '2']), /no command/);
    throwsUsage(() => parseArgs(['-np', '2', '--']), /no command/);
    throwsUsage(() => parseArgs([]), /-np N is required/);
  });

  it('rejects bad -np values', () => {
    for (const v of ['0', '-1', '1.5', 'abc', '']) {
      throwsUsage(() => parseArgs(['-np', v, 'x']), /-np needs a positive integer/);
    }
    throwsUsage(() => parseArgs(['-np']), /-np needs a value/);
  });

  it('rejects unknown options and values on flags', () => {
    throwsUsage(() => parseArgs(['-np', '2', '--bogus', 'x']), /unrecognized option --bogus/);
    throwsUsage(() => parseArgs(['-np', '2', '--verbose=yes', 'x']), /does not take a value/);
  });

  it('returns help and check-build without requiring -np', () => {
    assert.equal(parseArgs(['-h']).help, true);
    assert.equal(parseArgs(['--help']).help, true);
    assert.equal(parseArgs(['--check-build']).checkBuild, true);
  });

  it('parses --verbose and --tcp', () => {
    const o = parseArgs(['--verbose', '--tcp', '-np', '1', 'x']);
    assert.equal(o.verbose, true);
    assert.equal(o.tcp, true);
  });

  it('splits --mpi-args shell-style', () => {
    const o = parseArgs(['-np', '1', '--mpi-args', `--mca btl_tcp_if_include eth0 -x "A B" --tag-output`, 'x']);
    assert.deepEqual(o.mpiArgs, ['--mca', 'btl_tcp_if_include', 'eth0', '-x', 'A B', '--tag-output']);
    throwsUsage(() => parseArgs(['-np', '1', '--mpi-args', `'unterminated`, 'x']), /--mpi-args: unterminated/);
  });

  it('maps tuning flags to environment variables', () => {
    const o = parseArgs([
      '-np', '2',
      '--start-timeout', '30',
      '--timeline-filename', '/tmp/t.json',
      '--fusion-threshold-mb', '64',
      '--cycle-time-ms', '3.5',
      '--cache-capacity', '0',
      '--stall-check-warning-time-seconds', '60',
      '--stall-check-shutdown-time-seconds=120',
      '--log-level', 'debug',
      '--no-stall-check',
      'node', 'x.js',
    ]);
    assert.deepEqual(o.env, {
      HVD_START_TIMEOUT: '30',
      HOROVOD_TIMELINE: '/tmp/t.json',
      HOROVOD_FUSION_THRESHOLD: String(64 * 1024 * 1024),
      HOROVOD_CYCLE_TIME: '3.5',
      HOROVOD_CACHE_CAPACITY: '0',
      HOROVOD_STALL_CHECK_TIME_SECONDS: '60',
      HOROVOD_STALL_SHUTDOWN_TIME_SECONDS: '120',
      HOROVOD_LOG_LEVEL: 'DEBUG',
      HOROVOD_STALL_CHECK_DISABLE: '1',
    });
  });

  it('handles fractional fusion thresholds and log level aliases', () => {
    assert.equal(parseArgs(['-np', '1', '--fusion-threshold-mb', '0.5', 'x']).env.HOROVOD_FUSION_THRESHOLD, '524288');
    assert.equal(parseArgs(['-np', '1', '--log-level', 'WARN', 'x']).env.HOROVOD_LOG_LEVEL, 'WARNING');
  });

  it('validates tuning flag values', () => {
    throwsUsage(() => parseArgs(['-np', '1', '--fusion-threshold-mb', '-1', 'x']), /non-negative/);
    throwsUsage(() => parseArgs(['-np', '1', '--start-timeout', '0', 'x']), /positive number/);
    throwsUsage(() => parseArgs(['-np', '1', '--cycle-time-ms', 'fast', 'x']), /positive number/);
    throwsUsage(() => parseArgs(['-np', '1', '--log-level', 'loud', 'x']), /--log-level must be one of/);
    throwsUsage(() => parseArgs(['-np', '1', '--timeline-filename', '', 'x']), /non-empty/);
  });

  it('has a usage text that names every flag', () => {
    for (const flag of ['-np', '-H', '--hostfile', '--verbose', '--check-build', '--start-timeout', '--mpi-args',
      '--tcp', '--timeline-filename', '--fusion-threshold-mb', '--cycle-time-ms', '--cache-capacity',
      '--stall-check-warning-time-seconds', '--stall-check-shutdown-time-seconds', '--log-level', '--help']) {
      assert.ok(USAGE.includes(flag), `usage lacks ${flag}`);
    }
  });
});

describe('hvdrun buildMpirunCommand', () => {
  const base = (extra = []) => parseArgs(['-np', '2', ...extra, '--', 'node', 'train.js']);

  it('builds the local command line in Horovod style', () => {
    assert.deepEqual(buildMpirunCommand(base(), {}, false, 4), [
      'mpirun', '-np', '2', '--bind-to', 'none', '--map-by', 'slot', 'node', 'train.js',
    ]);
  });

  it('adds --allow-run-as-root for root', () => {
    const args = buildMpirunCommand(base(), {}, true, 4);
    assert.equal(args[0], 'mpirun');
    assert.equal(args[1], '--allow-run-as-root');
    assert.ok(!buildMpirunCommand(base(), {}, false, 4).includes('--allow-run-as-root'));
  });

  it('oversubscribes and yields when N exceeds the local CPUs', () => {
    const args = buildMpirunCommand(parseArgs(['-np', '3', 'x']), {}, false, 2);
    assert.ok(args.includes('--oversubscribe'));
    assert.notEqual(indexOfSeq(args, YIELD), -1);
    assert.equal(indexOfSeq(args, KEEPALIVE.slice(0, 3)), -1, 'no keepalive for a local run');
    const fits = buildMpirunCommand(parseArgs(['-np', '2', 'x']), {}, false, 2);
    assert.ok(!fits.includes('--oversubscribe'));
    assert.equal(indexOfSeq(fits, YIELD), -1);
  });

  it('passes -H and adds keepalive defaults for multi-host runs', () => {
    const args = buildMpirunCommand(parseArgs(['-np', '4', '-H', 'host1:2,host2:2', 'x']), {}, false, 1);
    assert.notEqual(indexOfSeq(args, ['-H', 'host1:2,host2:2']), -1);
    assert.notEqual(indexOfSeq(args, KEEPALIVE), -1);
    assert.ok(!args.includes('--oversubscribe'), '4 ranks fit in 4 slots');
    assert.equal(indexOfSeq(args, YIELD), -1, 'remote hosts: local CPU count does not matter');
    const over = buildMpirunCommand(parseArgs(['-np', '5', '-H', 'host1:2,host2:2', 'x']), {}, false, 64);
    assert.ok(over.includes('--oversubscribe'));
    assert.notEqual(indexOfSeq(over, YIELD), -1);
  });

  it('yields when local slots exceed the local CPUs', () => {
    const args = buildMpirunCommand(parseArgs(['-np', '4', '-H', 'localhost:8', 'x']), {}, false, 2);
    assert.ok(!args.includes('--oversubscribe'));
    assert.notEqual(indexOfSeq(args, YIELD), -1);
  });

  it('passes --hostfile and counts its slots', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvdrun-test-'));
    try {
      const f = path.join(dir, 'hosts');
      fs.writeFileSync(f, '# cluster\nnode1 slots=2\n\nnode2 slots=2 max_slots=4\n');
      const args = buildMpirunCommand(parseArgs(['-np', '4', '--hostfile', f, 'x']), {}, false, 1);
      assert.notEqual(indexOfSeq(args, ['--hostfile', f]), -1);
      assert.ok(!args.includes('-H'));
      assert.ok(!args.includes('--oversubscribe'));
      assert.notEqual(indexOfSeq(args, KEEPALIVE), -1);
      const over = buildMpirunCommand(parseArgs(['-np', '5', '--hostfile', f, 'x']), {}, false, 1);
      assert.ok(over.includes('--oversubscribe'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('uses hostfileHosts when given instead of reading the file', () => {
    const opts = { ...parseArgs(['-np', '3', '--hostfile', '/nonexistent/hosts', 'x']), hostfileHosts: [{ host: 'a', slots: 4 }] };
    const args = buildMpirunCommand(opts, {}, false, 1);
    assert.notEqual(indexOfSeq(args, ['--hostfile', '/nonexistent/hosts']), -1);
    assert.ok(!args.includes('--oversubscribe'));
    assert.throws(() => buildMpirunCommand(parseArgs(['-np', '3', '--hostfile', '/nonexistent/hosts', 'x']), {}, false, 1),
      /cannot read hostfile/);
  });

  it('forwards HOROVOD_*, HVD_*, PATH, LD_LIBRARY_PATH and NODE_PATH with -x', () => {
    const env = {
      HOROVOD_FUSION_THRESHOLD: '1',
      HVD_SPIN_TIME_US: '5',
      HVD_EMPTY: '',
      PATH: '/usr/bin',
      LD_LIBRARY_PATH: '/lib',
      NODE_PATH: '/n',
      HOME: '/root',
      MY_HVD_THING: 'x',
      HOROVOD_UNSET: undefined,
    };
    const args = buildMpirunCommand(base(), env, false, 4);
    const xs = [];
    for (let i = 0; i < args.length; i++) if (args[i] === '-x') xs.push(args[i + 1]);
    assert.deepEqual(xs, ['PATH', 'LD_LIBRARY_PATH', 'NODE_PATH', 'HOROVOD_FUSION_THRESHOLD', 'HVD_EMPTY', 'HVD_SPIN_TIME_US']);
    assert.deepEqual(forwardedEnvNames({ HOME: '/root' }), []);
  });

  it('exports variables set by tuning flags', () => {
    const opts = parseArgs(['-np', '2', '--fusion-threshold-mb', '1', '--start-timeout', '9', 'x']);
    const args = buildMpirunCommand(opts, { PATH: '/bin' }, false, 4);
    assert.notEqual(indexOfSeq(args, ['-x', 'HOROVOD_FUSION_THRESHOLD']), -1);
    assert.notEqual(indexOfSeq(args, ['-x', 'HVD_START_TIMEOUT']), -1);
    assert.deepEqual(launcher.buildChildEnv(opts, { PATH: '/bin', HVD_START_TIMEOUT: '1' }), {
      PATH: '/bin',
      HVD_START_TIMEOUT: '9',
      HOROVOD_FUSION_THRESHOLD: '1048576',
    });
  });

  it('adds --mca btl tcp,self for --tcp', () => {
    const args = buildMpirunCommand(base(['--tcp']), {}, false, 4);
    assert.notEqual(indexOfSeq(args, ['--mca', 'btl', 'tcp,self']), -1);
  });

  it('puts --mpi-args just before the command, which comes last', () => {
    const args = buildMpirunCommand(base(['--mpi-args', '--tag-output -x FOO']), { PATH: '/bin' }, false, 4);
    assert.deepEqual(args.slice(-5), ['--tag-output', '-x', 'FOO', 'node', 'train.js']);
    assert.ok(args.indexOf('-np') < args.indexOf('--tag-output'));
  });

  it('lets --mpi-args and OMPI_MCA_* override the defaults', () => {
    const opts = parseArgs(['-np', '9', '-H', 'a:1',
      '--mpi-args', '--mca oob_tcp_keepalive_time 60 --bind-to core --map-by node', '--tcp', 'x']);
    const args = buildMpirunCommand(opts, { OMPI_MCA_mpi_yield_when_idle: '0' }, false, 1);
    assert.equal(args.filter((a) => a === 'oob_tcp_keepalive_time').length, 1);
    assert.notEqual(indexOfSeq(args, ['oob_tcp_keepalive_time', '60']), -1);
    assert.notEqual(indexOfSeq(args, ['--mca', 'oob_tcp_keepalive_probes', '3']), -1);
    assert.ok(!args.includes('mpi_yield_when_idle'));
    assert.equal(args.filter((a) => a === '--bind-to').length, 1);
    assert.equal(args.filter((a) => a === '--map-by').length, 1);
    assert.notEqual(indexOfSeq(args, ['--bind-to', 'core']), -1);
    const withBtl = buildMpirunCommand(parseArgs(['-np', '1', '--tcp', '--mpi-args', '--mca btl self,vader', 'x']), {}, false, 4);
    assert.equal(withBtl.filter((a) => a === 'btl').length, 1);
  });

  it('requires numProc and a command', () => {
    assert.throws(() => buildMpirunCommand(parseArgs(['--help']), {}, false, 4), /numProc/);
  });

  it('documents every network fault tolerance default', () => {
    const { multiHost, oversubscribed } = NETWORK_FAULT_TOLERANCE_DEFAULTS;
    assert.deepEqual(multiHost.map((m) => [m.param, m.value]), [
      ['oob_tcp_keepalive_time', '5'],
      ['oob_tcp_keepalive_intvl', '2'],
      ['oob_tcp_keepalive_probes', '3'],
    ]);
    assert.deepEqual(oversubscribed.map((m) => [m.param, m.value]), [['mpi_yield_when_idle', '1']]);
    for (const m of [...multiHost, ...oversubscribed]) assert.ok(m.why.length > 10);
  });
});

describe('hvdrun shell quoting', () => {
  it('splits like a POSIX shell', () => {
    assert.deepEqual(shellSplit(''), []);
    assert.deepEqual(shellSplit('  a  b\tc\n'), ['a', 'b', 'c']);
    assert.deepEqual(shellSplit(`'a b' "c \\"d\\" $e" f\\ g ''`), ['a b', 'c "d" $e', 'f g', '']);
    assert.deepEqual(shellSplit(`x"y"'z'`), ['xyz']);
    assert.throws(() => shellSplit('"abc'), /unterminated double quote/);
    assert.throws(() => shellSplit('abc\\'), /trailing backslash/);
  });

  it('quotes only what needs quoting, and round-trips', () => {
    assert.equal(shellQuote('--bind-to'), '--bind-to');
    assert.equal(shellQuote('host1:2,host2:2'), 'host1:2,host2:2');
    assert.equal(shellQuote(''), "''");
    assert.equal(shellQuote('a b'), "'a b'");
    const words = ['a b', "it's", '$HOME', 'x"y', '', 'plain', '*'];
    assert.deepEqual(shellSplit(words.map(shellQuote).join(' ')), words);
  });
});

describe('hvdrun hostfiles', () => {
  it('parses -H lists', () => {
    assert.deepEqual(hostfile.parseHostsArg('host1:2,host2:3'), [
      { host: 'host1', slots: 2 },
      { host: 'host2', slots: 3 },
    ]);
    assert.deepEqual(hostfile.parseHostsArg('a, b:2 ,a:4'), [
      { host: 'a', slots: 5 },
      { host: 'b', slots: 2 },
    ]);
    assert.deepEqual(hostfile.parseHostsArg('user@10.0.0.1:2'), [{ host: 'user@10.0.0.1', slots: 2 }]);
    assert.throws(() => hostfile.parseHostsArg('a:x'), /positive integer/);
    assert.throws(() => hostfile.parseHostsArg('bad host:1'), /invalid host/);
    assert.throws(() => hostfile.parseHostsArg(''), /no hosts/);
  });

  it('parses OpenMPI-format hostfiles with comments and blank lines', () => {
    const text = '# two nodes\n\nnode1 slots=4   # big one\n  node2 slots=2 max_slots=8\r\nnode3\n';
    const parsed = hostfile.parseHostfileText(text);
    assert.deepEqual(parsed.hosts, [
      { host: 'node1', slots: 4 },
      { host: 'node2', slots: 2 },
      { host: 'node3', slots: 1 },
    ]);
    assert.equal(parsed.openMpiCompatible, true);
    assert.equal(hostfile.totalSlots(parsed.hosts), 7);
  });

  it('parses host:N hostfiles and marks them for conversion', () => {
    const parsed = hostfile.parseHostfileText('node1:2\nnode2:2\nnode1:1\n');
    assert.deepEqual(parsed.hosts, [
      { host: 'node1', slots: 3 },
      { host: 'node2', slots: 2 },
    ]);
    assert.equal(parsed.openMpiCompatible, false);
    assert.equal(hostfile.formatOpenMpiHostfile(parsed.hosts), 'node1 slots=3\nnode2 slots=2\n');
    assert.equal(hostfile.formatHostsArg(parsed.hosts), 'node1:3,node2:2');
  });

  it('rejects malformed hostfiles with the line number', () => {
    assert.throws(() => hostfile.parseHostfileText('a slots=2\nb slots=zero\n', 'hf'), /hf:2: .*positive integer/);
    assert.throws(() => hostfile.parseHostfileText('a colour=blue\n', 'hf'), /hf:1: unknown hostfile keyword/);
    assert.throws(() => hostfile.parseHostfileText('a junk\n', 'hf'), /hf:1: cannot parse "junk"/);
    assert.throws(() => hostfile.parseHostfileText('a:2 slots=3\n', 'hf'), /slots given twice/);
    assert.throws(() => hostfile.parseHostfileText('# nothing\n\n', 'hf'), /hf: no hosts listed/);
    assert.throws(() => hostfile.readHostfile('/nonexistent/hostfile'), /cannot read hostfile/);
  });

  it('writes and removes a temporary OpenMPI hostfile', () => {
    const tmp = hostfile.writeTempHostfile([{ host: 'a', slots: 2 }, { host: 'b', slots: 1 }]);
    assert.ok(path.isAbsolute(tmp.path));
    assert.equal(fs.readFileSync(tmp.path, 'utf8'), 'a slots=2\nb slots=1\n');
    assert.deepEqual(hostfile.readHostfile(tmp.path).hosts, [{ host: 'a', slots: 2 }, { host: 'b', slots: 1 }]);
    tmp.cleanup();
    assert.equal(fs.existsSync(tmp.path), false);
    assert.equal(fs.existsSync(path.dirname(tmp.path)), false);
    tmp.cleanup();
  });

  it('recognizes local host names', () => {
    assert.equal(hostfile.isLocalHost('localhost'), true);
    assert.equal(hostfile.isLocalHost('127.0.0.1'), true);
    assert.equal(hostfile.isLocalHost(os.hostname()), true);
    assert.equal(hostfile.isLocalHost('root@localhost'), true);
    assert.equal(hostfile.isLocalHost('some-other-host.example'), false);
  });
});

describe('hvdrun --check-build report', () => {
  const info = {
    version: '0.1.0',
    mpiLibraryVersion: 'Open MPI v4.1.4, package: Debian OpenMPI, ident: 4.1.4, repo rev: v4.1.4, May 26, 2022\n',
    mpiVendor: 'Open MPI',
    mpiThreadLevel: 'multiple',
    ncclBuilt: false,
    ncclAvailable: false,
    addonPath: '/abs/build/Release/hvd.node',
  };

  it('formats the report like horovodrun --check-build', () => {
    assert.equal(formatCheckBuild(info, ['@tensorflow/tfjs', '@tensorflow/tfjs-node']), [
      'hvd v0.1.0:',
      '',
      'Available frameworks:',
      '    [X] TensorFlow.js (@tensorflow/tfjs, @tensorflow/tfjs-node)',
      '',
      'Available controllers:',
      '    [X] MPI',
      '',
      'Available tensor operations:',
      '    [ ] NCCL (not built into this release)',
      '    [X] MPI',
      '',
      'MPI library: Open MPI v4.1.4, package: Debian OpenMPI, ident: 4.1.4, repo rev: v4.1.4, May 26, 2022',
      'MPI thread level: multiple',
      'Addon: /abs/build/Release/hvd.node',
      '',
    ].join('\n'));
  });

  it('shows missing frameworks, NCCL state and an unknown thread level', () => {
    const out = formatCheckBuild({ ...info, mpiThreadLevel: null, ncclBuilt: true, ncclAvailable: false }, []);
    assert.match(out, /^ {4}\[ \] TensorFlow\.js \(no @tensorflow\/tfjs package found\)$/m);
    assert.match(out, /^ {4}\[ \] NCCL \(built, but libnccl was not found at run time\)$/m);
    assert.match(out, /^MPI thread level: not initialized/m);
  });

  it('reports the probed thread level, tfjs-node and probe failures', () => {
    const loads = formatCheckBuild({ ...info, mpiThreadLevel: null }, ['@tensorflow/tfjs-node'], {
      mpiThreadLevel: { level: 'funneled' },
      tfjsNode: { status: 'loads', version: '4.22.0', tensorflow: '2.9.1' },
    });
    assert.match(loads, /^MPI thread level: funneled$/m);
    assert.match(loads, /^ {4}\[X\] tfjs-node: loads \(tfjs-node 4\.22\.0, TensorFlow 2\.9\.1\)$/m);
    const fails = formatCheckBuild({ ...info, mpiThreadLevel: null }, [], {
      mpiThreadLevel: { error: 'boom' },
      tfjsNode: { status: 'fails', error: 'Error: libtensorflow.so.2: cannot open shared object file' },
    });
    assert.match(fails, /^MPI thread level: unknown \(MPI_Init in a probe process failed: boom\)$/m);
    assert.match(fails, /^ {4}\[ \] tfjs-node: installed but does not load: Error: libtensorflow\.so\.2/m);
    assert.match(formatCheckBuild(info, [], { tfjsNode: { status: 'not installed' } }), /^ {4}\[ \] tfjs-node: not installed$/m);
  });

  it('detects installed tfjs packages', () => {
    const found = launcher.detectTfjsPackages();
    assert.ok(Array.isArray(found));
    for (const name of found) assert.ok(launcher.TFJS_PACKAGES.includes(name));
  });
});

describe('hvdrun end to end (runs mpirun)', function () {
  this.timeout(90000);

  // The ranks' environment must not make mpirun think it is nested in
  // another job, nor hide the root check we are testing.
  const cleanEnv = () => {
    const env = { ...process.env };
    for (const k of Object.keys(env)) {
      if (/^(OMPI_|PMIX_|PMI_|ORTE_|HOROVOD_|HVD_)/.test(k)) delete env[k];
    }
    return env;
  };
  const run = (args, env = cleanEnv()) =>
    spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8', timeout: 80000 });
  const rankCmd = (code) => ['--', process.execPath, '-e', code];

  before(() => {
    const which = spawnSync('sh', ['-c', 'command -v mpirun'], { encoding: 'utf8' });
    assert.equal(which.status, 0, 'OpenMPI (mpirun) must be installed to run the launcher end-to-end tests');
  });

  it('runs -np 2 and every rank sees its rank', () => {
    const r = run(['-np', '2', ...rankCmd('process.stdout.write("rank=" + process.env.OMPI_COMM_WORLD_RANK + "\\n")')]);
    assert.equal(r.status, 0, r.stderr);
    const ranks = r.stdout.match(/rank=\d+/g) || [];
    assert.deepEqual(ranks.sort(), ['rank=0', 'rank=1']);
  });

  it("propagates a rank's exit code", () => {
    const r = run(['-np', '2', ...rankCmd('process.exit(3)')]);
    assert.equal(r.status, 3, r.stderr);
  });

  it('prints the mpirun command with --verbose', () => {
    const r = run(['--verbose', '-np', '2', '--fusion-threshold-mb', '2', ...rankCmd('process.stdout.write("ok\\n")')]);
    assert.equal(r.status, 0, r.stderr);
    const line = r.stderr.split('\n').find((l) => l.startsWith('hvdrun: mpirun '));
    assert.ok(line, `no "hvdrun: mpirun" line in stderr:\n${r.stderr}`);
    assert.match(line, / -np 2 /);
    assert.match(line, / --bind-to none --map-by slot /);
    assert.match(line, / -x HOROVOD_FUSION_THRESHOLD /);
    if (process.getuid && process.getuid() === 0) assert.match(line, /^hvdrun: mpirun --allow-run-as-root /);
    assert.match(line, /'process\.stdout\.write\("ok\\n"\)'$/);
  });

  it('exports HOROVOD_*/HVD_* variables and tuning flags to the ranks', () => {
    const env = { ...cleanEnv(), HVD_LAUNCHER_TEST: 'hello world' };
    const r = run(['-np', '2', '--cycle-time-ms', '7', ...rankCmd(
      'process.stdout.write(`env=${process.env.HVD_LAUNCHER_TEST}|${process.env.HOROVOD_CYCLE_TIME}\\n`)')], env);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.match(/env=.*$/gm), ['env=hello world|7', 'env=hello world|7']);
  });

  it('runs with -H localhost:2', () => {
    const r = run(['-np', '2', '-H', 'localhost:2', ...rankCmd('process.stdout.write("size=" + process.env.OMPI_COMM_WORLD_SIZE + "\\n")')]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.match(/size=\d+/g), ['size=2', 'size=2']);
  });

  it('converts a host:N hostfile for mpirun and removes the temporary copy', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvdrun-test-'));
    try {
      const f = path.join(dir, 'hosts');
      fs.writeFileSync(f, '# Horovod style\nlocalhost:2\n');
      const r = run(['--verbose', '-np', '2', '--hostfile', f, ...rankCmd('process.stdout.write("hf-ok\\n")')]);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout.match(/hf-ok/g), ['hf-ok', 'hf-ok']);
      const m = /--hostfile (\S+)/.exec(r.stderr);
      assert.ok(m, r.stderr);
      assert.notEqual(m[1], f, 'a host:N hostfile must be rewritten');
      assert.equal(fs.existsSync(m[1]), false, 'temporary hostfile must be removed');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 127 with install advice when mpirun is not on PATH', () => {
    const r = run(['-np', '1', ...rankCmd('0')], { ...cleanEnv(), PATH: '/nonexistent' });
    assert.equal(r.status, 127);
    assert.match(r.stderr, /OpenMPI is missing/);
    assert.match(r.stderr, /apt-get install -y openmpi-bin libopenmpi-dev/);
  });

  it('exits 128+signo when mpirun is killed by a signal', async () => {
    // runMpirun is what main() uses to run mpirun; give it a stand-in that dies by SIGKILL.
    const code = await launcher.runMpirun(['sh', '-c', 'kill -KILL $$'], cleanEnv());
    assert.equal(code, 128 + os.constants.signals.SIGKILL);
  });

  it('exits 2 with usage on bad arguments, 0 for --help', () => {
    const bad = run(['-np', 'two', 'node']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /hvdrun: error: -np needs a positive integer/);
    assert.match(bad.stderr, /usage: hvdrun/);
    const help = run(['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /usage: hvdrun/);
  });

  it('reports the build for --check-build: MPI library, the thread level MPI grants, NCCL, tfjs', () => {
    const r = run(['--check-build']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^hvd v\d+\.\d+\.\d+/);
    assert.match(r.stdout, /Available controllers:\n {4}\[X\] MPI/);
    assert.match(r.stdout, /^MPI library: Open MPI v\d/m);
    // Asked of MPI in a probe process, not "not initialized".
    assert.match(r.stdout, /^MPI thread level: multiple$/m);
    assert.match(r.stdout, /^ {4}\[[X ]\] NCCL/m);
    assert.match(r.stdout, /^ {4}\[X\] TensorFlow\.js \(@tensorflow\/tfjs[,)]/m);
    assert.match(r.stdout, /^ {4}\[[X ]\] tfjs-node: (loads \(tfjs-node \S+, TensorFlow \S+\)|not installed|installed but does not load: .+)$/m);
    assert.match(r.stdout, /^Addon: \//m);
    const single = run(['--check-build'], { ...cleanEnv(), HOROVOD_MPI_THREADS_DISABLE: '1' });
    assert.match(single.stdout, /^MPI thread level: single$/m);
  });

  it('--check-build tells whether tfjs-node loads, from the application directory', () => {
    // probeTfjsNode is what --check-build runs; called directly to skip the MPI probe each time.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvdrun-cb-'));
    const fake = (body) => {
      const pkg = path.join(dir, 'node_modules', '@tensorflow', 'tfjs-node');
      fs.mkdirSync(pkg, { recursive: true });
      fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: '@tensorflow/tfjs-node', version: '9.9.9', main: 'index.js' }));
      fs.writeFileSync(path.join(pkg, 'index.js'), body);
    };
    try {
      if (!fs.existsSync(path.join(ROOT, 'node_modules', '@tensorflow', 'tfjs-node'))) {
        assert.deepEqual(launcher.probeTfjsNode(dir), { status: 'not installed' });
      }
      fake("exports.version = { 'tfjs-node': '9.9.9' }; exports.backend = () => ({ binding: { TF_Version: '2.99.0' } });");
      assert.deepEqual(launcher.probeTfjsNode(dir), { status: 'loads', version: '9.9.9', tensorflow: '2.99.0' });
      assert.ok(launcher.detectTfjsPackages(dir).includes('@tensorflow/tfjs-node'));
      // The whole report, once, from that directory.
      const ok = spawnSync(process.execPath, [BIN, '--check-build'], { cwd: dir, env: cleanEnv(), encoding: 'utf8', timeout: 80000 });
      assert.match(ok.stdout, /^ {4}\[X\] tfjs-node: loads \(tfjs-node 9\.9\.9, TensorFlow 2\.99\.0\)$/m, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /TensorFlow\.js \(.*@tensorflow\/tfjs-node/);
      fake("throw new Error('libtensorflow.so.2: cannot open shared object file: No such file or directory');");
      const bad = launcher.probeTfjsNode(dir);
      assert.equal(bad.status, 'fails');
      assert.match(bad.error, /^Error: libtensorflow\.so\.2: cannot open/);
      assert.match(formatCheckBuild({ version: '0', mpiLibraryVersion: 'x', mpiVendor: 'x', mpiThreadLevel: 'multiple', ncclBuilt: false, ncclAvailable: false, addonPath: '/a' }, [], { tfjsNode: bad }), /^ {4}\[ \] tfjs-node: installed but does not load: Error: libtensorflow\.so\.2: cannot open/m);
      fake('process.kill(process.pid, "SIGSEGV");');
      assert.match(launcher.probeTfjsNode(dir).error, /the probe process was killed by SIGSEGV/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });


  it('forwards SIGTERM to mpirun, which stops the ranks', async () => {
    const child = spawn(process.execPath,
      [BIN, '-np', '2', ...rankCmd('process.stdout.write("ready " + process.pid + "\\n"); setInterval(() => {}, 1000)')],
      { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`ranks did not start:\n${out}\n${err}`)), 60000);
      child.stdout.on('data', (d) => {
        out += d;
        if ((out.match(/ready \d+/g) || []).length === 2) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    const pids = out.match(/ready (\d+)/g).map((s) => Number(s.split(' ')[1]));
    child.kill('SIGTERM');
    const { code, signal } = await exited;
    assert.equal(signal, null, 'the launcher must exit by itself after forwarding');
    assert.equal(code, 128 + os.constants.signals.SIGTERM, 'SIGTERM: exit 143');
    // mpirun has already reaped its ranks when it exits; allow a moment anyway.
    const deadline = Date.now() + 10000;
    const alive = () => pids.filter((pid) => {
      try { process.kill(pid, 0); return true; } catch { return false; }
    });
    while (alive().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(alive(), [], 'ranks still running after SIGTERM');
  });

  // A process counts as gone when /proc has no entry or it is a zombie
  // (an orphan's zombie stays until PID 1 reaps it; it runs nothing).
  const running = (pid) => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
    } catch {
      return false;
    }
  };

  /** Starts `argv` (a launcher), waits for both ranks to print "ready <pid> <ppid>", returns them. */
  async function startJob(argv) {
    const child = spawn(process.execPath, argv, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`ranks did not start:\n${out}\n${err}`)), 60000);
      child.stdout.on('data', (d) => {
        out += d;
        if ((out.match(/ready \d+ \d+/g) || []).length === 2) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    const lines = out.match(/ready \d+ \d+/g).map((l) => l.split(' ').slice(1).map(Number));
    const ranks = lines.map(([pid]) => pid);
    const mpirun = lines[0][1];
    return { child, exited, ranks, mpirun, output: () => out + err };
  }
  const READY = 'process.stdout.write("ready " + process.pid + " " + process.ppid + "\\n"); setInterval(() => {}, 1000)';

  async function expectAllGone(pids, boundMs) {
    const t0 = Date.now();
    while (pids.some(running) && Date.now() - t0 < boundMs) await new Promise((r) => setTimeout(r, 100));
    const left = pids.filter(running);
    const described = left.map((p) => {
      try { return `${p}: ${fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')}`; } catch { return String(p); }
    });
    // Do not leave orphans behind for the next tests.
    for (const pid of left) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    assert.deepEqual(left, [], `still running ${Date.now() - t0} ms after the launcher was killed: ${described.join('; ')}`);
    return Date.now() - t0;
  }

  it('SIGKILL of hvdrun takes mpirun and every rank down (setpriv --pdeathsig)', async function () {
    if (launcher.pdeathsigWrapper(process.env.PATH) === undefined) this.skip();
    const job = await startJob([BIN, '-np', '2', ...rankCmd(READY)]);
    assert.ok(running(job.mpirun), 'mpirun is the ranks\' parent');
    job.child.kill('SIGKILL');
    await job.exited;
    const ms = await expectAllGone([job.mpirun, ...job.ranks], 15000);
    console.log(`      (mpirun and ranks gone ${ms} ms after SIGKILL of hvdrun)`);
  });

  it('SIGKILL of the launcher takes mpirun and every rank down (watchdog, where setpriv is missing)', async function () {
    const mpirunArgs = JSON.stringify(buildMpirunCommand(parseArgs(['-np', '2', ...rankCmd(READY)]), cleanEnv(), launcher.isRootUser()));
    const code = `require(${JSON.stringify(path.join(ROOT, 'dist', 'launcher', 'hvdrun.js'))}).runMpirun(${mpirunArgs}, process.env, 'watchdog').then((c) => process.exit(c))`;
    const job = await startJob(['-e', code]);
    job.child.kill('SIGKILL');
    await job.exited;
    const ms = await expectAllGone([job.mpirun, ...job.ranks], 15000);
    console.log(`      (mpirun and ranks gone ${ms} ms after SIGKILL of the launcher)`);
  });

  it('SIGINT: the ranks stop and hvdrun exits 130', async function () {
    const job = await startJob([BIN, '-np', '2', ...rankCmd(READY)]);
    job.child.kill('SIGINT');
    const { code, signal } = await job.exited;
    assert.equal(signal, null, job.output());
    assert.equal(code, 130, job.output());
    await expectAllGone([job.mpirun, ...job.ranks], 10000);
  });
});
