/**
 * FlexLB instance templates (keepalived + HAProxy settings in one JSON object) translated into
 * Shoal instance specs, so FlexLB users can bring their files along. HAProxy is a layer-7 proxy
 * and Shoal programs IPVS at layer 4: whatever has no layer-4 meaning is reported, never
 * silently dropped.
 */
import { DnsLabelSchema, ValidationError, type FieldIssue, type InstanceSpecInput, type Scheduler } from '@shoal/model';

type BackendInput = NonNullable<InstanceSpecInput['backends']>[number];
type HealthCheckInput = NonNullable<InstanceSpecInput['healthCheck']>;

export interface FlexLbTranslation {
  readonly spec: InstanceSpecInput;
  /** One entry per FlexLB field (or part of one) that had no Shoal meaning. */
  readonly ignored: readonly string[];
}

/** FlexLB's keys; their presence is how a template is told from a Shoal spec. */
export function isFlexLbTemplate(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && ('frontend_ipaddress' in value || 'backend_servers' in value);
}

/** HAProxy `balance` algorithms with an IPVS equivalent. */
const BALANCE: Readonly<Record<string, Scheduler>> = {
  roundrobin: 'rr',
  'static-rr': 'wrr',
  leastconn: 'lc',
  source: 'sh',
};

/** keepalived/VRRP and interface settings: Shoal elects owners and finds interfaces itself. */
const NO_MEANING = ['frontend_interface', 'frontend_net_prefix', 'state', 'priority'];

const KNOWN = new Set([
  ...NO_MEANING,
  'name',
  'frontend_ipaddress',
  'frontend_port',
  'frontend_options',
  'mode',
  'balance',
  'backend_options',
  'backend_check_commands',
  'backend_default_server',
  'backend_servers',
]);

/** HAProxy time: a number with an optional unit (us, ms, s, m, h, d); bare numbers are ms. */
function haproxyTimeMs(text: string): number | null {
  const m = /^(\d+)(us|ms|s|m|h|d)?$/.exec(text);
  if (!m?.[1]) return null;
  const scale: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  return Math.round(Number(m[1]) * (scale[m[2] ?? 'ms'] ?? 1));
}

function isEmpty(v: unknown): boolean {
  return v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);
}

/**
 * Translates a FlexLB template. Throws ValidationError (paths are FlexLB's field names) when a
 * field that matters cannot be translated; returns what was ignored alongside the spec.
 */
export function translateFlexLbTemplate(template: unknown): FlexLbTranslation {
  if (typeof template !== 'object' || template === null || Array.isArray(template)) {
    throw new ValidationError([{ path: '', message: 'a FlexLB template is a JSON object' }]);
  }
  const t = template as Record<string, unknown>;
  const issues: FieldIssue[] = [];
  const ignored: string[] = [];

  for (const key of Object.keys(t)) {
    if (!KNOWN.has(key)) ignored.push(key);
    else if (NO_MEANING.includes(key) && !isEmpty(t[key])) ignored.push(key);
  }
  if (!isEmpty(t['frontend_options'])) ignored.push('frontend_options');

  const name = typeof t['name'] === 'string' ? t['name'] : '';
  if (name === '') issues.push({ path: 'name', message: 'is required' });

  const mode = typeof t['mode'] === 'string' ? t['mode'].toLowerCase() : 'tcp';
  let protocol: 'tcp' | 'udp' = 'tcp';
  if (mode === 'udp') protocol = 'udp';
  else if (mode === 'http') ignored.push('mode http (Shoal balances at layer 4; using tcp)');
  else if (mode !== 'tcp') issues.push({ path: 'mode', message: `"${mode}" is not tcp, udp or http` });

  const portRaw = t['frontend_port'];
  const port = typeof portRaw === 'number' ? portRaw : typeof portRaw === 'string' && /^\d+$/.test(portRaw) ? Number(portRaw) : NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) issues.push({ path: 'frontend_port', message: 'must be a port number 1..65535' });

  let scheduler: Scheduler | undefined;
  if (t['balance'] !== undefined) {
    scheduler = typeof t['balance'] === 'string' ? BALANCE[t['balance']] : undefined;
    if (scheduler === undefined) {
      issues.push({ path: 'balance', message: `${JSON.stringify(t['balance'])} has no layer-4 equivalent; use ${Object.keys(BALANCE).join(', ')}` });
    }
  }

  // default-server: health timing, the default weight, and `check` for every server.
  let anyCheck = false;
  let intervalMs: number | undefined;
  let rise: number | undefined;
  let fall: number | undefined;
  let defaultWeight: number | undefined;
  if (typeof t['backend_default_server'] === 'string') {
    const tokens = t['backend_default_server'].trim().split(/\s+/).filter((x) => x !== '');
    for (let i = 0; i < tokens.length; i++) {
      const word = tokens[i] ?? '';
      const arg = tokens[i + 1];
      const intArg = arg !== undefined && /^\d+$/.test(arg) ? Number(arg) : undefined;
      switch (word) {
        case 'inter': {
          const ms = arg === undefined ? null : haproxyTimeMs(arg);
          if (ms === null) issues.push({ path: 'backend_default_server', message: `inter "${arg ?? ''}" is not a time` });
          else intervalMs = ms;
          i++;
          break;
        }
        case 'check':
          anyCheck = true;
          break;
        case 'rise':
        case 'fall':
        case 'weight':
          if (intArg === undefined) issues.push({ path: 'backend_default_server', message: `${word} needs a number` });
          else if (word === 'rise') rise = intArg;
          else if (word === 'fall') fall = intArg;
          else defaultWeight = intArg;
          i++;
          break;
        default:
          // `name value` pairs (downinter 5s, slowstart 60s, maxconn 2000...) are reported together.
          if (arg !== undefined && !/^[a-z]/.test(arg)) {
            ignored.push(`backend_default_server: ${word} ${arg}`);
            i++;
          } else ignored.push(`backend_default_server: ${word}`);
      }
    }
  } else if (!isEmpty(t['backend_default_server'])) issues.push({ path: 'backend_default_server', message: 'must be a string of HAProxy default-server settings' });

  // Servers.
  const backends: BackendInput[] = [];
  const servers = t['backend_servers'];
  if (servers !== undefined && !Array.isArray(servers)) issues.push({ path: 'backend_servers', message: 'must be a list' });
  (Array.isArray(servers) ? servers : []).forEach((raw: unknown, i) => {
    const path = `backend_servers.${i}`;
    if (typeof raw !== 'object' || raw === null) {
      issues.push({ path, message: 'must be an object with name, ipaddress and port' });
      return;
    }
    const s = raw as Record<string, unknown>;
    const ip = typeof s['ipaddress'] === 'string' ? s['ipaddress'] : '';
    if (ip === '') issues.push({ path: `${path}.ipaddress`, message: 'is required' });
    const sPort = typeof s['port'] === 'number' ? s['port'] : typeof s['port'] === 'string' && /^\d+$/.test(s['port']) ? Number(s['port']) : undefined;
    if (s['port'] !== undefined && sPort === undefined) issues.push({ path: `${path}.port`, message: 'must be a port number' });
    let weight = defaultWeight;
    let enabled = true;
    const opts = typeof s['options'] === 'string' ? s['options'].trim().split(/\s+/).filter((x) => x !== '') : [];
    for (let j = 0; j < opts.length; j++) {
      const o = opts[j];
      if (o === 'check') anyCheck = true;
      else if (o === 'disabled') enabled = false;
      else if (o === 'weight' && /^\d+$/.test(opts[j + 1] ?? '')) weight = Number(opts[++j]);
      else ignored.push(`${path}.options: ${o ?? ''}`);
    }
    // Server names become backend names only when they are DNS labels (Shoal's rule for names).
    let backendName: string | undefined;
    if (typeof s['name'] === 'string' && s['name'] !== '') {
      const lower = s['name'].toLowerCase();
      if (DnsLabelSchema.safeParse(lower).success) backendName = lower;
      else ignored.push(`${path}.name "${s['name']}" (not a DNS label)`);
    }
    for (const k of Object.keys(s)) if (!['name', 'ipaddress', 'port', 'options'].includes(k)) ignored.push(`${path}.${k}`);
    backends.push({
      ...(backendName === undefined ? {} : { name: backendName }),
      ip,
      ...(sPort === undefined ? {} : { port: sPort }),
      ...(weight === undefined ? {} : { weight }),
      ...(enabled ? {} : { enabled: false }),
    });
  });

  // Health check: httpchk makes it HTTP, `expect status N` sets the accepted statuses.
  let httpPath: string | undefined;
  const backendOptions = t['backend_options'];
  for (const [i, raw] of (Array.isArray(backendOptions) ? backendOptions : isEmpty(backendOptions) ? [] : [backendOptions]).entries()) {
    const opt = typeof raw === 'string' ? raw.trim() : '';
    const words = opt.split(/\s+/);
    if (words[0] === 'httpchk') {
      // `httpchk`, `httpchk /uri` (old form), `httpchk METHOD /uri [VERSION]`.
      const uri = words.slice(1).find((w) => w.startsWith('/'));
      const method = words[1] !== undefined && !words[1].startsWith('/') ? words[1].toUpperCase() : 'OPTIONS';
      httpPath = uri ?? '/';
      if (method !== 'GET') ignored.push(`backend_options.${i}: httpchk method ${method} (Shoal checks with GET)`);
    } else ignored.push(`backend_options.${i}: ${opt}`);
  }
  let expectedStatus: number[] | undefined;
  const cc = t['backend_check_commands'];
  if (typeof cc === 'object' && cc !== null && !Array.isArray(cc)) {
    const checkType = (cc as Record<string, unknown>)['check_type'];
    const commands = (cc as Record<string, unknown>)['commands'];
    if (checkType !== undefined && checkType !== 'http-check') ignored.push(`backend_check_commands.check_type: ${JSON.stringify(checkType)}`);
    for (const [i, c] of (Array.isArray(commands) ? commands : []).entries()) {
      const m = typeof c === 'string' ? /^expect\s+status\s+(\d{3})$/.exec(c.trim()) : null;
      if (m?.[1] !== undefined && checkType === 'http-check') (expectedStatus ??= []).push(Number(m[1]));
      else ignored.push(`backend_check_commands.commands.${i}: ${String(c)}`);
    }
  } else if (!isEmpty(cc)) ignored.push('backend_check_commands');

  let healthCheck: HealthCheckInput | undefined;
  const timing = {
    ...(intervalMs === undefined ? {} : { intervalMs, ...(intervalMs < 1000 ? { timeoutMs: intervalMs } : {}) }),
    ...(rise === undefined ? {} : { rise }),
    ...(fall === undefined ? {} : { fall }),
  };
  if (Array.isArray(servers) && servers.length > 0 && !anyCheck) {
    // HAProxy checks only servers marked `check`; none marked means no health checking.
    healthCheck = { type: 'none' };
  } else if (httpPath !== undefined) {
    healthCheck = { type: 'http', path: httpPath, ...(expectedStatus === undefined ? {} : { expectedStatus }), ...timing };
  } else if (protocol === 'tcp' && (anyCheck || Object.keys(timing).length > 0)) {
    healthCheck = { type: 'tcp', ...timing };
  }

  if (issues.length > 0) throw new ValidationError(issues, `cannot translate the FlexLB template: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  const spec: InstanceSpecInput = {
    name,
    ...(typeof t['frontend_ipaddress'] === 'string' && t['frontend_ipaddress'] !== '' ? { vip: t['frontend_ipaddress'] } : {}),
    ports: [{ port, protocol }],
    ...(scheduler === undefined ? {} : { scheduler }),
    backends,
    ...(healthCheck === undefined ? {} : { healthCheck }),
  };
  return { spec, ignored };
}
