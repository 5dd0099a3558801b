/**
 * Rendering: aligned tables for people, JSON and YAML for scripts. The table views pick the
 * columns; JSON and YAML always show the whole object as the API returned it.
 */
import { stringify as toYaml } from 'yaml';
import type { Backend, BackendStatus, Instance, InstanceStatus, Pool, PoolStatus } from '@shoal/model';
import type { OutputFormat } from './settings.js';

/** Columns separated by two spaces, each as wide as its widest cell; the last is not padded. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export function renderJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export function renderYaml(value: unknown): string {
  return toYaml(value);
}

/** `value` as JSON or YAML, or `table()` for the table format. */
export function render(format: OutputFormat, value: unknown, table: () => string): string {
  switch (format) {
    case 'json':
      return renderJson(value);
    case 'yaml':
      return renderYaml(value);
    case 'table':
      return table();
  }
}

export function formatPorts(inst: Pick<Instance, 'ports'>): string {
  return inst.ports.map((p) => `${p.port}/${p.protocol}`).join(',');
}

/** An instance as the API returns it: with what the node observed, and any conflict. */
export type InstanceView = Instance & { readonly status?: InstanceStatus | undefined };
/** A pool as the API returns it: with its conflict, if any. */
export type PoolView = Pool & { readonly status?: PoolStatus | undefined };

/** STATE is `conflict` for an instance a merge of concurrent writes left unserved: `get` says why. */
export function instanceTable(items: readonly InstanceView[]): string {
  return renderTable(
    ['NAME', 'VIP', 'PORTS', 'SCHEDULER', 'BACKENDS', 'STATE', 'GEN'],
    items.map((i) => [i.name, i.vip, formatPorts(i), i.scheduler, String(i.backends.length), i.status?.conflict ? 'conflict' : i.state, String(i.generation)]),
  );
}

/** A backend as the API lists it: with its observed status when the node checks health. */
export type BackendView = Backend & { readonly status?: BackendStatus | undefined };

export function backendTable(items: readonly BackendView[]): string {
  return renderTable(
    ['ID', 'IP', 'PORT', 'WEIGHT', 'ENABLED', 'HEALTH'],
    // No port: the backend serves on the VIP's port.
    items.map((b) => [b.id, b.ip, b.port === undefined ? '-' : String(b.port), String(b.weight), b.enabled ? 'yes' : 'no', b.status?.health ?? '-']),
  );
}

export function poolTable(items: readonly Pool[]): string {
  return renderTable(
    ['NAME', 'RANGES', 'AUTO-ASSIGN', 'AVOID-BUGGY-IPS', 'GEN'],
    items.map((p) => [p.name, p.ranges.join(','), p.autoAssign ? 'yes' : 'no', p.avoidBuggyIps ? 'yes' : 'no', String(p.generation)]),
  );
}

function describeHealth(inst: Instance): string {
  const hc = inst.healthCheck;
  if (hc.type === 'none') return 'none';
  const where = hc.type === 'tcp' ? '' : ` ${hc.path} expect ${hc.expectedStatus.join(',')}`;
  return `${hc.type}${where} every ${hc.intervalMs}ms, timeout ${hc.timeoutMs}ms, rise ${hc.rise}, fall ${hc.fall}`;
}

/** Key/value lines: `KEY  value`, keys aligned. */
export function renderFields(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}`.trimEnd()).join('\n') + '\n';
}

export function instanceDetail(inst: InstanceView): string {
  const conflict = inst.status?.conflict;
  const labels = Object.entries(inst.labels).map(([k, v]) => `${k}=${v}`);
  const pairs: [string, string][] = [
    ['Name', inst.name],
    ['ID', inst.id],
    ...(inst.description === undefined ? [] : [['Description', inst.description] as [string, string]]),
    ['VIP', inst.vip],
    ...(inst.pool === undefined ? [] : [['Pool', inst.pool] as [string, string]]),
    ...(inst.sharingKey === undefined ? [] : [['Sharing key', inst.sharingKey] as [string, string]]),
    ['Ports', formatPorts(inst)],
    ['Scheduler', inst.scheduler],
    ['Forwarding', inst.forwarding],
    ['Persistence', inst.persistenceTimeoutS === 0 ? 'off' : `${inst.persistenceTimeoutS}s${inst.persistenceNetmask === undefined ? '' : ` /${inst.persistenceNetmask}`}`],
    ['Health check', describeHealth(inst)],
    ['State', inst.state],
    ...(conflict === undefined ? [] : [['Conflict', conflict.message] as [string, string]]),
    ['Labels', labels.length === 0 ? '-' : labels.join(',')],
    ['Generation', String(inst.generation)],
    ['Updated', inst.updatedAt],
  ];
  return `${renderFields(pairs)}\nBackends:\n${inst.backends.length === 0 ? '  (none)\n' : indent(backendTable(inst.backends.map((b) => ({ ...b, status: inst.status?.backends[b.id] }))))}`;
}

export function poolDetail(pool: PoolView): string {
  const conflict = pool.status?.conflict;
  return renderFields([
    ['Name', pool.name],
    ...(pool.description === undefined ? [] : [['Description', pool.description] as [string, string]]),
    ['Ranges', pool.ranges.join(', ')],
    ['Auto-assign', pool.autoAssign ? 'yes' : 'no'],
    ['Avoid buggy IPs', pool.avoidBuggyIps ? 'yes' : 'no'],
    ...(conflict === undefined ? [] : [['Conflict', conflict.message] as [string, string]]),
    ['Generation', String(pool.generation)],
  ]);
}

function scalarText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return v === null ? 'null' : '';
}

/** Nested objects as dotted keys (`node.name`), arrays of scalars joined by commas. */
export function flatten(value: unknown, prefix = ''): [string, string][] {
  if (value === null || typeof value !== 'object') return [[prefix, scalarText(value)]];
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== 'object')) return [[prefix, value.map(String).join(',')]];
    return value.flatMap((v, i) => flatten(v, `${prefix}[${i}]`));
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return [[prefix, '-']];
  return entries.flatMap(([k, v]) => flatten(v, prefix === '' ? k : `${prefix}.${k}`));
}

export function statusDetail(status: unknown): string {
  return renderFields(flatten(status));
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => (l === '' ? l : `  ${l}`))
    .join('\n');
}
