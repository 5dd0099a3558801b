/**
 * Instance specs for the benchmarks: the n-th instance gets a distinct name and VIP, so any
 * number of them can be created in any order without a name or VIP conflict, and without a
 * pool (an explicit VIP needs none).
 */
import type { InstanceSpecInput } from '@shoal/model';

/** VIPs from 10.64.0.0 up: 4M addresses, far more than a run creates. */
const VIP_BASE = (10 << 24) | (64 << 16);
/** Backends from 172.16.0.0 up; four consecutive addresses per instance. */
const BACKEND_BASE = (172 << 24) | (16 << 16);

function ipv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function instanceName(prefix: string, n: number): string {
  return `${prefix}-${n}`;
}

export function instanceSpec(prefix: string, n: number, backends: number): InstanceSpecInput {
  return {
    name: instanceName(prefix, n),
    vip: ipv4(VIP_BASE + n),
    ports: [{ port: 80 }],
    backends: Array.from({ length: backends }, (_, i) => ({ ip: ipv4(BACKEND_BASE + ((n * backends + i) % (1 << 20))), port: 8080 })),
  };
}
