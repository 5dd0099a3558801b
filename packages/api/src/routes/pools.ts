/** /v1/pools: address pools the VIPs of instances are allocated from. Writes need admin. */
import type { Hono } from 'hono';
import { NotFoundError, PoolSpecSchema, parseOrThrow, withoutServerOwnedFields } from '@shoal/model';
import type { ApiEnv, RouteContext } from '../app.js';
import { ifMatchGeneration, readJsonBody, setEtag } from '../request.js';
import { poolView } from '../views.js';

export function registerPoolRoutes(app: Hono<ApiEnv>, { store, maxBodyBytes, allow }: RouteContext): void {
  const read = allow('read');
  const write = allow('pool-write');

  app.get('/v1/pools', read, (c) => c.json({ items: store.listPools().map((p) => poolView(store, p)) }));

  app.get('/v1/pools/:name', read, (c) => {
    const pool = store.getPool(c.req.param('name'));
    if (!pool) throw new NotFoundError(`pool "${c.req.param('name')}"`);
    setEtag(c, pool.generation);
    return c.json(poolView(store, pool));
  });

  app.post('/v1/pools', write, async (c) => {
    const spec = parseOrThrow(PoolSpecSchema, await readJsonBody(c, maxBodyBytes));
    const pool = await store.createPool(spec);
    setEtag(c, pool.generation);
    c.header('Location', `/v1/pools/${encodeURIComponent(pool.name)}`);
    return c.json(poolView(store, pool), 201);
  });

  app.put('/v1/pools/:name', write, async (c) => {
    const spec = parseOrThrow(PoolSpecSchema, withoutServerOwnedFields(await readJsonBody(c, maxBodyBytes)));
    const pool = await store.replacePool(c.req.param('name'), spec, { ifGeneration: ifMatchGeneration(c) });
    setEtag(c, pool.generation);
    return c.json(poolView(store, pool));
  });

  app.delete('/v1/pools/:name', write, async (c) => {
    const pool = await store.deletePool(c.req.param('name'), { ifGeneration: ifMatchGeneration(c) });
    return c.json(pool);
  });
}
