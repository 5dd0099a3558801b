/** /v1/instances: CRUD, start/stop and backends, with If-Match optimistic concurrency. */
import type { Hono } from 'hono';
import {
  BackendPatchSchema,
  BackendSpecSchema,
  InstancePatchSchema,
  InstanceSpecSchema,
  NotFoundError,
  parseLabelSelector,
  parseOrThrow,
  withoutServerOwnedFields,
  type Instance,
} from '@shoal/model';
import type { ApiEnv, ApiContext, RouteContext } from '../app.js';
import { ifMatchGeneration, readJsonBody, setEtag } from '../request.js';
import { withInstanceConflict } from '../views.js';

export function registerInstanceRoutes(app: Hono<ApiEnv>, { store, maxBodyBytes, allow, view: observed }: RouteContext): void {
  // An instance a merge left in conflict says so in every answer that shows it.
  const view = withInstanceConflict(store, observed);
  const instanceJson = (c: ApiContext, inst: Instance, status: 200 | 201 = 200): Response => {
    setEtag(c, inst.generation);
    return c.json(view(inst), status);
  };
  const write = allow('write');
  const read = allow('read');
  const cond = (c: ApiContext): { ifGeneration: number | undefined } => ({ ifGeneration: ifMatchGeneration(c) });
  const mustGet = (ref: string): Instance => {
    const inst = store.getInstance(ref);
    if (!inst) throw new NotFoundError(`instance "${ref}"`);
    return inst;
  };

  app.get('/v1/instances', read, (c) => {
    const selector = parseLabelSelector([...(c.req.queries('label') ?? []), ...(c.req.queries('labelSelector') ?? [])]);
    return c.json({ items: store.listInstances({ labels: selector }).map(view) });
  });

  app.post('/v1/instances', write, async (c) => {
    const spec = parseOrThrow(InstanceSpecSchema, await readJsonBody(c, maxBodyBytes));
    const inst = await store.createInstance(spec);
    c.header('Location', `/v1/instances/${encodeURIComponent(inst.name)}`);
    return instanceJson(c, inst, 201);
  });

  app.get('/v1/instances/:name', read, (c) => instanceJson(c, mustGet(c.req.param('name'))));

  app.put('/v1/instances/:name', write, async (c) => {
    // GET, edit, PUT works: server-owned fields in the body are accepted and ignored.
    const spec = parseOrThrow(InstanceSpecSchema, withoutServerOwnedFields(await readJsonBody(c, maxBodyBytes)));
    return instanceJson(c, await store.replaceInstance(c.req.param('name'), spec, cond(c)));
  });

  app.patch('/v1/instances/:name', write, async (c) => {
    const patch = parseOrThrow(InstancePatchSchema, withoutServerOwnedFields(await readJsonBody(c, maxBodyBytes)));
    return instanceJson(c, await store.patchInstance(c.req.param('name'), patch, cond(c)));
  });

  app.delete('/v1/instances/:name', write, async (c) => instanceJson(c, await store.deleteInstance(c.req.param('name'), cond(c))));

  app.post('/v1/instances/:name/start', write, async (c) => instanceJson(c, await store.setInstanceState(c.req.param('name'), 'started', cond(c))));
  app.post('/v1/instances/:name/stop', write, async (c) => instanceJson(c, await store.setInstanceState(c.req.param('name'), 'stopped', cond(c))));

  app.get('/v1/instances/:name/backends', read, (c) => {
    const inst = mustGet(c.req.param('name'));
    setEtag(c, inst.generation);
    const status = view(inst).status;
    return c.json({ items: inst.backends.map((b) => (status ? { ...b, status: status.backends[b.id] } : b)) });
  });

  app.post('/v1/instances/:name/backends', write, async (c) => {
    const spec = parseOrThrow(BackendSpecSchema, await readJsonBody(c, maxBodyBytes));
    const { instance, backend } = await store.addBackend(c.req.param('name'), spec, cond(c));
    setEtag(c, instance.generation);
    c.header('Location', `/v1/instances/${encodeURIComponent(instance.name)}/backends/${backend.id}`);
    return c.json(backend, 201);
  });

  app.get('/v1/instances/:name/backends/:id', read, (c) => {
    const inst = mustGet(c.req.param('name'));
    const backend = inst.backends.find((b) => b.id === c.req.param('id'));
    if (!backend) throw new NotFoundError(`backend ${c.req.param('id')} of instance "${inst.name}"`);
    setEtag(c, inst.generation);
    return c.json(backend);
  });

  app.patch('/v1/instances/:name/backends/:id', write, async (c) => {
    const patch = parseOrThrow(BackendPatchSchema, await readJsonBody(c, maxBodyBytes));
    const { instance, backend } = await store.updateBackend(c.req.param('name'), c.req.param('id'), patch, cond(c));
    setEtag(c, instance.generation);
    return c.json(backend);
  });

  app.delete('/v1/instances/:name/backends/:id', write, async (c) => {
    const { instance, backend } = await store.removeBackend(c.req.param('name'), c.req.param('id'), cond(c));
    setEtag(c, instance.generation);
    return c.json(backend);
  });
}
