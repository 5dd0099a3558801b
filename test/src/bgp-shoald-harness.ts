/**
 * shoald nodes in the BGP lab (packages/testkit bgp-lab): a node certificate for the node's LAN
 * address and a config with the lab's common parts (API on that address, nftables data plane,
 * health off, the cluster on the LAN with node s1 as seed, a BGP session to the lab's router).
 * Each test adds what it is about (ownership, the BGP mode and options).
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { ROUTER_ASN, SPEAKER_ASN, type BgpLab, type LabSpeaker } from '@shoal/testkit';
import { CERTS_SCRIPT, type Pki } from './harness.js';
import { GOSSIP_KEY } from './cluster-harness.js';

const execFileAsync = promisify(execFile);

export interface BgpNodeConfigInit {
  readonly lab: BgpLab;
  readonly pki: Pki;
  readonly node: LabSpeaker;
  /** The cluster's seed (its gossip address is `${seed.ipv4}:7946`). */
  readonly seed: LabSpeaker;
  /** `ownership` section (default mode none). */
  readonly ownership?: Record<string, unknown>;
  /** Extra `cluster` keys (SWIM timers). */
  readonly cluster?: Record<string, unknown>;
  /** `bgp` keys over the defaults (enabled, AS 64512, router id = the node, one peer: the lab router). */
  readonly bgp?: Record<string, unknown>;
  /** Extra keys of the lab router's peer entry (holdTimeS 3 and connectRetryS 1 by default). */
  readonly peer?: Record<string, unknown>;
}

/** Issues the node's certificate and writes its config; returns the config's path. */
export async function writeBgpNodeConfig(init: BgpNodeConfigInit): Promise<string> {
  const { lab, pki, node: n } = init;
  await execFileAsync('bash', [CERTS_SCRIPT, 'node', '--dir', pki.dir, '--name', n.short, '--ip', n.ipv4]);
  const dataDir = join(lab.dir, `data-${n.short}`);
  await mkdir(dataDir, { recursive: true });
  const config = join(lab.dir, `${n.short}.yaml`);
  await writeFile(
    config,
    stringify({
      node: { name: n.short },
      dataDir,
      api: { host: n.ipv4, port: 8443, tls: { cert: join(pki.dir, `${n.short}.crt`), key: join(pki.dir, `${n.short}.key`), ca: join(pki.dir, 'ca.crt') } },
      dataplane: { driver: 'nftables', nftablesTable: 'shoal' },
      health: { enabled: false },
      ownership: init.ownership ?? { mode: 'none' },
      cluster: { enabled: true, bind: { host: n.ipv4, port: 7946 }, seeds: [`${init.seed.ipv4}:7946`], keys: [GOSSIP_KEY], profile: 'local', writeConcern: 1, ...init.cluster },
      bgp: {
        enabled: true,
        asn: SPEAKER_ASN,
        routerId: n.ipv4,
        peers: [{ address: lab.router.ipv4, asn: ROUTER_ASN, holdTimeS: 3, connectRetryS: 1, ...init.peer }],
        ...init.bgp,
      },
    }),
  );
  return config;
}
