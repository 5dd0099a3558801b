/**
 * Which IPVS services are Shoal's. IPVS keeps no owner, so the driver keeps the record: the
 * service keys it created, written to a small JSON file before the kernel is asked to create
 * them (intent first) and removed after the kernel deleted them.
 *
 * Why a file the driver keeps, not an `isOwned` callback from the reconciler: the desired
 * state cannot answer for services that left it while shoald was down (deleted instance,
 * changed VIP), and "previously applied" is exactly this record, which must outlive the
 * process to be any use. A key recorded but absent from the kernel (crash between the write
 * and the request, or `ipvsadm -D` by hand) is pruned on the next dump.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ShoalError } from '@shoal/model';

export interface OwnershipRecord {
  has(key: string): boolean;
  keys(): string[];
  /** Adds keys and persists before resolving. */
  add(keys: readonly string[]): Promise<void>;
  /** Removes keys and persists before resolving. */
  remove(keys: readonly string[]): Promise<void>;
}

interface StateFileV1 {
  readonly version: 1;
  readonly services: string[];
}

/** In memory only: for tests, or a driver that is told the whole table is Shoal's. */
export function memoryOwnership(initial: readonly string[] = []): OwnershipRecord {
  const set = new Set(initial);
  return {
    has: (k) => set.has(k),
    keys: () => [...set].sort(),
    add(keys) {
      for (const k of keys) set.add(k);
      return Promise.resolve();
    },
    remove(keys) {
      for (const k of keys) set.delete(k);
      return Promise.resolve();
    },
  };
}

/** The record in `path` (created on the first write; a missing file is an empty record). */
export async function fileOwnership(path: string): Promise<OwnershipRecord> {
  let initial: string[] = [];
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<StateFileV1>;
    if (parsed.version !== 1 || !Array.isArray(parsed.services) || !parsed.services.every((s) => typeof s === 'string')) {
      throw new ShoalError('E_CONFIG', `IPVS ownership record ${path} is not a version-1 record; move it away to start over (Shoal will then not remove the services it lists)`);
    }
    initial = parsed.services;
  } catch (err) {
    if (!(err instanceof Error && 'code' in err && err.code === 'ENOENT')) throw err;
  }
  const set = new Set(initial);
  async function persist(): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.tmp`;
    const body: StateFileV1 = { version: 1, services: [...set].sort() };
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(body, null, 1)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  }
  return {
    has: (k) => set.has(k),
    keys: () => [...set].sort(),
    async add(keys) {
      const before = set.size;
      for (const k of keys) set.add(k);
      if (set.size !== before) await persist();
    },
    async remove(keys) {
      let changed = false;
      for (const k of keys) changed = set.delete(k) || changed;
      if (changed) await persist();
    },
  };
}
