/**
 * slb/vippy's API, so its users can switch: the same paths and JSON shapes (uuid, name, eip,
 * port, backends[uuid, ip, port, type]). Unlike slb, every write answers with the object and a
 * real status, bad input gets a 400 naming the field, and an unknown uuid is a 404.
 *
 * slb names are free text ("test loadbalancer"); Shoal names are DNS labels. The slb name is
 * kept as the instance's description and a DNS-label name is derived from it.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import { IpAddressSchema, NotFoundError, PortNumberSchema, parseOrThrow, type Backend, type Instance, type InstanceConflict } from '@shoal/model';
import type { ClusterStore } from '@shoal/store';
import type { ApiEnv, RouteContext } from '../app.js';
import { readJsonBody } from '../request.js';

const SlbLoadBalancerSchema = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(256),
  port: PortNumberSchema,
});

/** slb's backend types: MASQ (IPVS masquerading, the default) and LOCAL (IPVS local node). */
const SLB_TYPES = { MASQ: 'nat', LOCAL: 'local', DR: 'dr', TUNNEL: 'tunnel' } as const;
type SlbType = keyof typeof SLB_TYPES;

const SlbBackendSchema = z.object({
  ip: IpAddressSchema,
  port: PortNumberSchema.optional(),
  type: z
    .string()
    .transform((s) => s.toUpperCase())
    .pipe(z.enum(Object.keys(SLB_TYPES) as [SlbType, ...SlbType[]], 'must be MASQ or LOCAL'))
    .optional(),
});

export interface SlbBackend {
  uuid: string;
  ip: string;
  port: number;
  type: string;
}
export interface SlbLoadBalancer {
  uuid: string;
  name: string;
  eip: string;
  port: number;
  backends: SlbBackend[];
  /** Not slb's: present only when a merge of concurrent writes left this one not served. */
  status?: { conflict: InstanceConflict };
}

function slbType(b: Backend, inst: Instance): string {
  switch (b.forwarding ?? inst.forwarding) {
    case 'nat':
      return 'MASQ';
    case 'local':
      return 'LOCAL';
    case 'dr':
      return 'DR';
    case 'tunnel':
      return 'TUNNEL';
  }
}

export function slbBackendView(b: Backend, inst: Instance): SlbBackend {
  return { uuid: b.id, ip: b.ip, port: b.port ?? inst.ports[0]?.port ?? 0, type: slbType(b, inst) };
}

export function slbView(inst: Instance): SlbLoadBalancer {
  return {
    uuid: inst.id,
    name: inst.description ?? inst.name,
    eip: inst.vip,
    port: inst.ports[0]?.port ?? 0,
    backends: inst.backends.map((b) => slbBackendView(b, inst)),
  };
}

/** "test loadbalancer" -> "test-loadbalancer"; a taken or empty slug gets a suffix. */
export function slugForSlbName(name: string, taken: (candidate: string) => boolean, suffix: string): string {
  const base =
    name
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/-+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 50)
      .replace(/-$/, '') || 'lb';
  if (!taken(base)) return base;
  return `${base}-${suffix.slice(0, 8)}`;
}

function mustGetById(store: ClusterStore, uuid: string): Instance {
  const inst = store.getInstanceById(uuid);
  if (!inst) throw new NotFoundError(`loadbalancer ${uuid}`);
  return inst;
}

export function registerSlbRoutes(app: Hono<ApiEnv>, { store, maxBodyBytes, allow }: RouteContext): void {
  const read = allow('read');
  const write = allow('write');
  // slb has no such field; a client that does not know it ignores it, one that does learns why.
  const shown = (inst: Instance): SlbLoadBalancer => {
    const conflict = store.instanceConflict(inst.id);
    return conflict ? { ...slbView(inst), status: { conflict } } : slbView(inst);
  };

  app.post('/loadbalancer', write, async (c) => {
    const body = parseOrThrow(SlbLoadBalancerSchema, await readJsonBody(c, maxBodyBytes));
    const name = slugForSlbName(body.name, (n) => store.getInstance(n) !== undefined, crypto.randomUUID());
    const inst = await store.createInstance({
      name,
      description: body.name,
      ports: [{ port: body.port, protocol: 'tcp' }],
      scheduler: 'rr',
      forwarding: 'nat',
      persistenceTimeoutS: 0,
      backends: [],
      state: 'started',
      labels: { 'shoal.io/api': 'slb' },
    });
    c.header('Location', `/loadbalancer/${inst.id}`);
    return c.json(shown(inst), 201);
  });

  app.get('/loadbalancers', read, (c) => c.json(store.listInstances().map(shown)));

  app.get('/loadbalancer/:uuid', read, (c) => c.json(shown(mustGetById(store, c.req.param('uuid')))));

  app.delete('/loadbalancer/:uuid', write, async (c) => {
    const inst = mustGetById(store, c.req.param('uuid'));
    return c.json(slbView(await store.deleteInstance(inst.id)));
  });

  app.post('/loadbalancer/:uuid/backend', write, async (c) => {
    const inst = mustGetById(store, c.req.param('uuid'));
    const body = parseOrThrow(SlbBackendSchema, await readJsonBody(c, maxBodyBytes));
    const forwarding = SLB_TYPES[body.type ?? 'MASQ'];
    const { instance, backend } = await store.addBackend(inst.id, {
      ip: body.ip,
      port: body.port,
      weight: 1,
      enabled: true,
      forwarding: forwarding === inst.forwarding ? undefined : forwarding,
    });
    return c.json(slbBackendView(backend, instance), 201);
  });

  app.delete('/loadbalancer/:uuid/backend/:backend', write, async (c) => {
    const inst = mustGetById(store, c.req.param('uuid'));
    const { instance, backend } = await store.removeBackend(inst.id, c.req.param('backend'));
    return c.json(slbBackendView(backend, instance));
  });
}
