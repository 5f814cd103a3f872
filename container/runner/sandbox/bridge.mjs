// Runs inside the namespaces sandbox for a setup step: listens on the sandbox's own loopback
// (127.0.0.1:<port>, what HTTP(S)_PROXY name) and carries each connection to the runner's egress
// proxy through the unix socket bound into the sandbox (egress-proxy.ts decides what may pass).
// Plain JavaScript so that it runs with the sandbox's node and nothing else; it writes
// /tmp/.numa-proxy-ready once it listens, and ends with the sandbox.
//   node bridge.mjs <socket> <port>
import { connect, createServer } from 'node:net';
import { writeFileSync } from 'node:fs';

const [socketPath, port] = process.argv.slice(2);
const server = createServer((client) => {
  const upstream = connect(socketPath);
  client.pipe(upstream).pipe(client);
  const done = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', done);
  upstream.on('error', done);
});
server.listen(Number(port), '127.0.0.1', () => writeFileSync('/tmp/.numa-proxy-ready', ''));
