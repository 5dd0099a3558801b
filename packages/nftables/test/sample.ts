/**
 * The small desired set the golden rendering and the captured `nft -j` fixture were made
 * from: IPv4 and IPv6, rr, weighted (with a quiesced and a dr server), sh, persistent udp,
 * and a service with no active server.
 */
import type { RealServer, VirtualService } from '@shoal/dataplane';

const server = (ip: string, port: number, weight = 1, forwarding: RealServer['forwarding'] = 'nat'): RealServer => ({ ip, port, weight, forwarding });

export const SAMPLE: readonly VirtualService[] = [
  { protocol: 'tcp', vip: '10.0.0.10', port: 80, family: 4, scheduler: 'rr', persistenceTimeoutS: 0, servers: [server('10.1.0.11', 8080), server('10.1.0.12', 8080), server('10.1.0.13', 8080)] },
  { protocol: 'tcp', vip: '10.0.0.10', port: 81, family: 4, scheduler: 'wrr', persistenceTimeoutS: 0, servers: [server('10.1.0.11', 8080, 3), server('10.1.0.12', 8080, 1, 'dr'), server('10.1.0.13', 8080, 0)] },
  { protocol: 'tcp', vip: '10.0.0.11', port: 80, family: 4, scheduler: 'rr', persistenceTimeoutS: 0, servers: [server('10.1.0.11', 80, 0)] },
  { protocol: 'tcp', vip: 'fd00::10', port: 443, family: 6, scheduler: 'sh', persistenceTimeoutS: 0, servers: [server('fd00:1::11', 8443), server('fd00:1::12', 8443, 2)] },
  { protocol: 'udp', vip: '10.0.0.10', port: 53, family: 4, scheduler: 'rr', persistenceTimeoutS: 300, persistenceNetmask: 24, servers: [server('10.1.0.11', 53)] },
];
