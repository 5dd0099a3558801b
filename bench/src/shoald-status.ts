/** The parts of shoald's GET /v1/status the bench reports. */
import type { MtlsClient } from './mtls-client.js';

export interface ShoaldStoreStatus {
  readonly instances: number;
  readonly loadMs: number;
  readonly log: { readonly appends: number; readonly syncs: number; readonly logBytes: number; readonly snapshotBytes: number };
}

export async function fetchStoreStatus(client: MtlsClient): Promise<ShoaldStoreStatus> {
  const res = await client.request('GET', '/v1/status');
  if (res.status !== 200) throw new Error(`GET /v1/status: HTTP ${res.status} ${res.body.toString('utf8').slice(0, 200)}`);
  const body = JSON.parse(res.body.toString('utf8')) as { store?: ShoaldStoreStatus };
  if (body.store === undefined) throw new Error('GET /v1/status: no store section');
  return body.store;
}
