'use strict';
// The rehearsal's stand-in for `kubectl exec` (the training-operator's v1
// launcher reaches its workers with /etc/mpi/kubexec.sh, which runs
// `kubectl exec <pod> -- /bin/sh -c "<orted command>"`).
//
// kubectl is a client in the launcher pod talking to the API server, which
// has the kubelet exec into the worker's container. Here the client is this
// file run by node inside the launcher container (kubexec.sh execs it), the
// "API server" is a relay on the host (startRelay) listening on a Unix socket
// mounted into the launcher, and the kubelet's exec is `podman exec`. Only
// the pods of the job can be reached.
//
// Wire format, both ways over one stream: a first line of JSON
// ({pod, argv} from the client), then frames [type:u8][length:u32be][bytes]:
//   client -> relay: 0 stdin data, 3 stdin closed
//   relay -> client: 1 stdout, 2 stderr, 4 exit (payload: JSON {code, signal})

const net = require('node:net');
const childProcess = require('node:child_process');

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const STDIN_END = 3;
const EXIT = 4;

function frame(type, payload) {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const head = Buffer.alloc(5);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Calls onFrame(type, payload) for each complete frame fed to it. */
function deframer(onFrame) {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 5) {
      const len = buf.readUInt32BE(1);
      if (buf.length < 5 + len) break;
      onFrame(buf.readUInt8(0), buf.subarray(5, 5 + len));
      buf = buf.subarray(5 + len);
    }
  };
}

/**
 * Host side. pods: {podName: containerName}. execArgv(container, argv) gives
 * the command that runs argv in the container (podman exec). Returns
 * {close(), calls} where calls lists {pod, argv} received.
 */
function startRelay(socketPath, pods, execArgv) {
  const calls = [];
  const children = new Set();
  const server = net.createServer((sock) => {
    let header = Buffer.alloc(0);
    let child = null;
    const onFrame = (type, payload) => {
      if (!child) return;
      if (type === STDIN) child.stdin.write(payload);
      else if (type === STDIN_END) child.stdin.end();
    };
    const feed = deframer(onFrame);
    sock.on('data', (chunk) => {
      if (child) return feed(chunk);
      header = Buffer.concat([header, chunk]);
      const nl = header.indexOf(10);
      if (nl < 0) return;
      let req;
      try {
        req = JSON.parse(header.subarray(0, nl).toString('utf8'));
      } catch (e) {
        sock.write(frame(STDERR, `podexec: bad request: ${e.message}\n`));
        sock.end(frame(EXIT, JSON.stringify({ code: 2 })));
        return;
      }
      calls.push(req);
      const container = pods[req.pod];
      if (!container) {
        sock.write(frame(STDERR, `Error from server (NotFound): pods "${req.pod}" not found\n`));
        sock.end(frame(EXIT, JSON.stringify({ code: 1 })));
        return;
      }
      const [cmd, ...args] = execArgv(container, req.argv);
      child = childProcess.spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      children.add(child);
      child.stdin.on('error', () => {});
      child.stdout.on('data', (d) => sock.write(frame(STDOUT, d)));
      child.stderr.on('data', (d) => sock.write(frame(STDERR, d)));
      child.on('close', (code, signal) => {
        children.delete(child);
        if (!sock.destroyed) sock.end(frame(EXIT, JSON.stringify({ code, signal })));
      });
      // the client went away (mpirun killed its agent): end the exec
      sock.on('close', () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      feed(header.subarray(nl + 1));
    });
    sock.on('error', () => {});
  });
  server.listen(socketPath);
  return {
    calls,
    ready: new Promise((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    }),
    close() {
      for (const c of children) c.kill('SIGKILL');
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Launcher side: node podexec.js SOCKET POD ARGV... ; exits with the remote status. */
function client(socketPath, pod, argv) {
  const sock = net.connect(socketPath);
  sock.on('connect', () => {
    sock.write(JSON.stringify({ pod, argv }) + '\n');
    process.stdin.on('data', (d) => sock.write(frame(STDIN, d)));
    process.stdin.on('end', () => sock.write(frame(STDIN_END, '')));
    process.stdin.on('error', () => {});
  });
  let exited = false;
  sock.on(
    'data',
    deframer((type, payload) => {
      if (type === STDOUT) process.stdout.write(payload);
      else if (type === STDERR) process.stderr.write(payload);
      else if (type === EXIT) {
        exited = true;
        const { code, signal } = JSON.parse(payload.toString('utf8'));
        process.exitCode = code === null || code === undefined ? (signal ? 137 : 1) : code;
        process.stdin.destroy();
        sock.destroy();
      }
    }),
  );
  sock.on('close', () => {
    if (!exited) {
      process.stderr.write(`podexec: connection to ${socketPath} lost before ${pod} exited\n`);
      process.exitCode = 1;
    }
    process.stdin.destroy();
  });
  sock.on('error', (e) => {
    process.stderr.write(`podexec: ${e.message}\n`);
    process.exitCode = 1;
  });
}

module.exports = { startRelay };

if (require.main === module) {
  const [socketPath, pod, ...argv] = process.argv.slice(2);
  if (!socketPath || !pod || argv.length === 0) {
    process.stderr.write('usage: node podexec.js SOCKET POD ARGV...\n');
    process.exit(2);
  }
  client(socketPath, pod, argv);
}
