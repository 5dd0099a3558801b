/**
 * One SWIM member in its own process, for swim-bench: a real UDP/TCP transport on loopback, so
 * a SIGKILL is a real crash and a stall blocks a real event loop.
 *
 * argv[2] is a JSON SwimNodeArgs. stdout carries one JSON line per thing that happened:
 *   {"ready":true,"name","port"}                  once joined (or alone, without seeds)
 *   {"event","name","state","incarnation","atMs"} every membership event (atMs: Date.now())
 *   {"reply":"stats","stats":{...}}               answers to `stats`
 *   {"reply":"members","members":[...]}           answers to `members`
 *   {"reply":"stalled","ms","atMs"}               after `stall MS` returns
 * stdin takes one command per line: `stall MS` (a synchronous busy loop: the event loop answers
 * nothing for MS, as under a long GC pause or a CPU-starved VM), `stats`, `members`, `exit`.
 */
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { Keyring, createSwim, createUdpTcpTransport, swimConfig, type Member, type SwimConfig, type SwimEvent, type SwimProfile } from '@shoal/swim';

export interface SwimNodeArgs {
  readonly name: string;
  /** 0 picks a free port; a restarted member passes its old one (a different address is a different member until deadNodeReclaimTimeMs). */
  readonly port: number;
  readonly seeds: readonly string[];
  readonly profile: SwimProfile;
  readonly overrides?: Partial<SwimConfig>;
  /** Gossip key, base64 of 32 bytes. */
  readonly key: string;
  /** pino level of the member's log on stderr. @default 'warn' */
  readonly logLevel?: string;
}

export type SwimNodeLine =
  | { readonly ready: true; readonly name: string; readonly port: number }
  | { readonly event: SwimEvent; readonly name: string; readonly state: Member['state']; readonly incarnation: number; readonly atMs: number }
  | { readonly reply: 'stats'; readonly stats: unknown }
  | { readonly reply: 'members'; readonly members: readonly { name: string; state: Member['state']; incarnation: number }[] }
  | { readonly reply: 'stalled'; readonly ms: number; readonly atMs: number };

const EVENTS: readonly SwimEvent[] = ['join', 'suspect', 'alive', 'dead', 'leave', 'update'];

const print = (line: SwimNodeLine): void => void process.stdout.write(`${JSON.stringify(line)}\n`);

const args = JSON.parse(process.argv[2] ?? '{}') as SwimNodeArgs;
// Warnings and errors only, to stderr (the parent sends it to a file): stdout is the protocol.
const logger = pino({ level: args.logLevel ?? 'warn' }, pino.destination(2));
const transport = await createUdpTcpTransport({ bindAddress: '127.0.0.1', bindPort: args.port });
const swim = createSwim({
  name: args.name,
  config: swimConfig(args.profile, args.overrides ?? {}),
  keyring: Keyring.fromBase64(args.key),
  logger,
  transport,
});
for (const event of EVENTS) {
  swim.on(event, (m) => {
    print({ event, name: m.name, state: m.state, incarnation: m.incarnation, atMs: Date.now() });
  });
}

/** Blocks the event loop: nothing is received, sent or timed out until it returns. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // Spin: holding the thread is the point.
  }
}

let exiting = false;
async function exit(): Promise<void> {
  if (exiting) return;
  exiting = true;
  await swim.shutdown();
  process.exit(0);
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, arg] = line.trim().split(/\s+/);
  switch (command ?? '') {
    case 'stall': {
      const ms = Number(arg);
      stall(ms);
      print({ reply: 'stalled', ms, atMs: Date.now() });
      break;
    }
    case 'stats':
      print({ reply: 'stats', stats: swim.stats() });
      break;
    case 'members':
      print({ reply: 'members', members: swim.members().map((m) => ({ name: m.name, state: m.state, incarnation: m.incarnation })) });
      break;
    case 'exit':
      void exit();
      break;
    default:
      process.stderr.write(`swim-node: unknown command ${JSON.stringify(line)}\n`);
  }
});
// The parent going away (its end of stdin closing) ends this member too.
process.stdin.on('end', () => void exit());

if (args.seeds.length > 0) await swim.join([...args.seeds]);
print({ ready: true, name: args.name, port: transport.port });
