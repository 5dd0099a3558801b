import { createMemoryNetwork, createUdpTcpTransport } from '../src/index.js';
import { transportTests } from './transport-compliance.js';

transportTests('memory network', () => {
  const net = createMemoryNetwork({ latencyMs: 1 });
  const a = net.transport('10.0.0.1', 7946);
  const b = net.transport('10.0.0.2', 0);
  return Promise.resolve({ a, b, nowhere: { address: '10.0.0.9', port: 7946 }, cleanup: async () => { await a.close(); await b.close(); } });
});

transportTests('UDP/TCP on 127.0.0.1', async () => {
  const a = await createUdpTcpTransport({ bindAddress: '127.0.0.1', bindPort: 0 });
  const b = await createUdpTcpTransport({ bindAddress: '127.0.0.1', bindPort: 0 });
  const spare = await createUdpTcpTransport({ bindAddress: '127.0.0.1', bindPort: 0 });
  const nowhere = { address: '127.0.0.1', port: spare.port };
  await spare.close();
  return { a, b, nowhere, cleanup: async () => { await a.close(); await b.close(); } };
});
