/**
 * One @shoal/bgp speaker in its own process, for the BGP interop labs: the test starts it inside
 * a speaker namespace (`ip netns exec NS node bgp-speaker-child.js CONFIG`) and drives it with
 * one JSON command per stdin line; it answers with one JSON object per stdout line. Logs go to
 * stderr (pino). The process is the speaker: SIGKILL is a crash, SIGTERM a clean stop.
 *
 * Config (argv[2], or env SHOAL_BGP_CHILD_CONFIG): `{ "speaker": <createBgpSpeaker init>,
 * "logLevel"?: "info" }`.
 *
 * Commands:
 *   {"cmd":"routes","routes":[{"prefix":"10.96.0.10/32","communities":[...],...}]}  -> {"ok":"routes","count":N}
 *   {"cmd":"loaded"}                                  -> {"ok":"loaded"}
 *   {"cmd":"peers"}                                   -> {"peers":[...status...]}
 *   {"cmd":"stop","preserveForwarding":false}         -> {"stopped":true}, then exits 0
 * Events:
 *   {"ready":true} after start(); {"event":"peer-state","address":..,"state":..,"at":ms,"status":{..}}
 *   on every peer state change (the speaker's own event); {"error":"..."} for a command that failed.
 */
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { createBgpSpeaker, parsePrefix, type BgpRoute, type BgpSpeakerInit } from '@shoal/bgp';

interface ChildConfig {
  readonly speaker: BgpSpeakerInit;
  readonly logLevel?: string;
}

/** A route as the test writes it: the prefix as text, everything else as the speaker takes it. */
interface RouteText {
  readonly prefix: string;
  readonly [key: string]: unknown;
}

type Command =
  | { readonly cmd: 'routes'; readonly routes: readonly RouteText[] }
  | { readonly cmd: 'loaded' }
  | { readonly cmd: 'peers' }
  | { readonly cmd: 'stop'; readonly preserveForwarding?: boolean };

const print = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

const rawConfig = process.argv[2] ?? process.env.SHOAL_BGP_CHILD_CONFIG;
if (rawConfig === undefined) {
  process.stderr.write('usage: bgp-speaker-child.js CONFIG_JSON (or env SHOAL_BGP_CHILD_CONFIG)\n');
  process.exit(2);
}
const config = JSON.parse(rawConfig) as ChildConfig;
const logger = pino({ level: config.logLevel ?? 'info', base: { pid: process.pid } }, pino.destination(2));
const speaker = createBgpSpeaker(config.speaker, { logger });

// Peer-state events straight from the speaker, one line per transition.
speaker.on('peer-state', (status) => {
  print({ event: 'peer-state', address: status.address, state: status.state, at: Date.now(), status });
});

let stopping = false;
const stop = async (preserveForwarding: boolean): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await speaker.stop({ preserveForwarding });
  print({ stopped: true, at: Date.now() });
  // let the line reach the parent before exiting
  process.stdout.write('', () => process.exit(0));
};

const handle = async (c: Command): Promise<void> => {
  switch (c.cmd) {
    case 'routes': {
      // the rest of each route (med, communities, ...) goes to the speaker as given: its own
      // validation is part of what runs here
      const routes: BgpRoute[] = c.routes.map((r) => ({ ...r, prefix: parsePrefix(r.prefix) }));
      speaker.setRoutes(routes);
      print({ ok: 'routes', count: routes.length, at: Date.now() });
      return;
    }
    case 'loaded':
      speaker.markInitialRoutesLoaded();
      print({ ok: 'loaded', at: Date.now() });
      return;
    case 'peers':
      print({ peers: speaker.peers(), at: Date.now() });
      return;
    case 'stop':
      await stop(c.preserveForwarding ?? false);
      return;
  }
};

process.on('SIGTERM', () => {
  const timer = setTimeout(() => process.exit(1), 2000);
  timer.unref();
  stop(false).catch((e: unknown) => {
    logger.error({ err: e }, 'stop failed');
    process.exit(1);
  });
});

await speaker.start();
print({ ready: true, pid: process.pid, at: Date.now() });

const input = createInterface({ input: process.stdin });
// stdin closes when the test process goes away: do not outlive it inside a namespace.
input.on('close', () => {
  stop(false).catch((e: unknown) => {
    logger.error({ err: e }, 'stop failed');
    process.exit(1);
  });
});
input.on('line', (line) => {
  if (line.trim() === '') return;
  let command: Command;
  try {
    command = JSON.parse(line) as Command;
  } catch (e) {
    print({ error: `bad JSON: ${(e as Error).message}` });
    return;
  }
  handle(command).catch((e: unknown) => {
    logger.error({ err: e, command }, 'command failed');
    print({ error: (e as Error).message, cmd: command.cmd });
  });
});
