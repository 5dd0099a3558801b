/**
 * SWIM on its own: one member per process (swim-node.ts) on loopback, real UDP and TCP.
 *
 *  a. Failure detection of a SIGKILLed member, beside the SWIM paper's expectation (SWIM 3.1 and
 *     5: a member is first probed after e/(e-1) protocol periods on average) and the dead bound
 *     that Lifeguard's dynamic suspicion timeout gives.
 *  b. False positives while one member's event loop is stalled for 2 s (Lifeguard's motivating
 *     case: a slow member must not get healthy ones declared dead, nor be declared dead itself).
 *  c. Gossip bandwidth of an idle cluster.
 *
 * Every child is stopped by its PID; nothing here signals processes by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { RECOMMENDED_NODE_FLAGS } from '@shoal/shoald';
import { swimConfig, type SwimProfile, type SwimStats } from '@shoal/swim';
import { percentile } from './load.js';
import { SWIM_NODE } from './repo.js';
import type { SwimNodeArgs, SwimNodeLine } from './swim-node.js';

/** One fixed gossip key (32 bytes, base64); a bench cluster needs no secret. */
const GOSSIP_KEY = Buffer.alloc(32, 6).toString('base64');

export interface SwimBenchSettings {
  /** SWIM profile of every part. lan is memberlist's DefaultLANConfig. */
  readonly profile: SwimProfile;
  /** Cluster sizes of the detection trials. */
  readonly detectionSizes: readonly number[];
  /** SIGKILL trials per size. */
  readonly detectionTrials: number;
  readonly stalls: number;
  readonly stallMs: number;
  readonly stallGapMs: number;
  readonly idleS: number;
}

/** The brief's figures: 10 kills at n=5, 10 stalls of 2 s 8 s apart at n=5, 30 s idle at n=5. */
export const SWIM_BENCH_DEFAULTS: SwimBenchSettings = {
  profile: 'lan',
  detectionSizes: [5],
  detectionTrials: 10,
  stalls: 10,
  stallMs: 2_000,
  stallGapMs: 8_000,
  idleS: 30,
};

/** What the configured profile predicts for a cluster of n (SWIM paper, memberlist/Lifeguard timers). */
export interface SwimExpectation {
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  /** SWIM 3.1: e/(e-1) T, the n -> infinity limit of the expected first-probe time. */
  readonly detectAsymptoticMs: number;
  /** 1/(1-(1-1/(n-1))^(n-1)) T: each of the n-1 survivors picks a target at random per period. */
  readonly detectExactMs: number;
  /** Lifeguard suspicion timeout: min = suspicionMult max(1, log10 n) T; max = suspicionMaxTimeoutMult min. */
  readonly suspicionMinMs: number;
  readonly suspicionMaxMs: number;
  /** detectExact + probeTimeout + suspicion min / max. */
  readonly deadLowMs: number;
  readonly deadHighMs: number;
}

export interface DetectionTrial {
  readonly victim: string;
  /** From the SIGKILL to the first `suspect` about the victim on any survivor. */
  readonly firstSuspectMs: number | null;
  /** To the first and the last survivor's `dead` about it. */
  readonly firstDeadMs: number | null;
  readonly lastDeadMs: number | null;
  /** Survivors that never declared it dead within the trial's timeout. */
  readonly missingDead: string[];
  /** Per survivor, from the SIGKILL to its own `suspect` and `dead` events about the victim (absent: none). */
  readonly suspectByMs: Record<string, number>;
  readonly deadByMs: Record<string, number>;
  /** suspect / dead events about members that were alive (not the victim) during the trial. */
  readonly otherSuspects: number;
  readonly otherDeads: number;
}

export interface Distribution {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

export interface DetectionResult {
  readonly nodes: number;
  readonly expected: SwimExpectation;
  readonly trials: DetectionTrial[];
  readonly firstSuspect: Distribution;
  readonly firstDead: Distribution;
  readonly lastDead: Distribution;
  /** Restart of the victim to every member seeing every member alive again. */
  readonly rejoin: Distribution;
}

export interface StallRound {
  readonly node: string;
  /** The stall as the stalled member measured it (its busy loop ran this long). */
  readonly stalledMs: number;
  readonly healthScoreAfter: number;
  /** Highest health score of the stalled member over the gap that followed (read every 100 ms). */
  readonly healthScoreMax: number;
  /** Over the stall and the gap, from the stalled member's counters: times it refuted a suspicion of itself, and probes of its own that failed. */
  readonly refutations: number;
  readonly probeFailures: number;
  readonly suspects: number;
  readonly deads: number;
}

export interface StallResult {
  readonly nodes: number;
  readonly stallMs: number;
  readonly gapMs: number;
  readonly rounds: StallRound[];
  /** `dead` events about live members, on any member (target 0). */
  readonly falseDeads: number;
  /** `suspect` events about live members, on any member (informational: Lifeguard lets them be refuted). */
  readonly suspects: number;
  /** Of those, suspicions of the stalled member vs of others (raised by the stalled member, typically). */
  readonly suspectsOfStalled: number;
  readonly suspectsOfOthers: number;
}

export interface IdleResult {
  readonly nodes: number;
  readonly idleS: number;
  readonly settleS: number;
  /** Per node, bytes per second over the idle window. */
  readonly perNode: { readonly name: string; readonly sentBps: number; readonly receivedBps: number; readonly packetsSentPs: number }[];
  readonly sentMeanBps: number;
  readonly sentMaxBps: number;
  readonly receivedMeanBps: number;
  readonly receivedMaxBps: number;
}

export interface SwimBenchResult {
  readonly profile: SwimProfile;
  readonly config: ReturnType<typeof swimConfig>;
  readonly detection: DetectionResult[];
  readonly stall: StallResult | undefined;
  readonly idle: IdleResult | undefined;
  readonly elapsedS: number;
}

export interface SwimBenchInit {
  readonly workDir: string;
  readonly settings: SwimBenchSettings;
  readonly progress: (msg: string) => void;
}

export function swimExpectation(profile: SwimProfile, n: number): SwimExpectation {
  const c = swimConfig(profile);
  const t = c.probeIntervalMs;
  const detectAsymptoticMs = (Math.E / (Math.E - 1)) * t;
  const detectExactMs = t / (1 - (1 - 1 / (n - 1)) ** (n - 1));
  const suspicionMinMs = c.suspicionMult * Math.max(1, Math.log10(n)) * t;
  const suspicionMaxMs = c.suspicionMaxTimeoutMult * suspicionMinMs;
  return {
    probeIntervalMs: t,
    probeTimeoutMs: c.probeTimeoutMs,
    detectAsymptoticMs,
    detectExactMs,
    suspicionMinMs,
    suspicionMaxMs,
    deadLowMs: detectExactMs + c.probeTimeoutMs + suspicionMinMs,
    deadHighMs: detectExactMs + c.probeTimeoutMs + suspicionMaxMs,
  };
}

export async function runSwimBench(init: SwimBenchInit): Promise<SwimBenchResult> {
  const started = performance.now();
  const { settings, progress } = init;
  const dir = join(init.workDir, 'swim');
  await mkdir(dir, { recursive: true });
  const detection: DetectionResult[] = [];
  for (const n of settings.detectionSizes) {
    detection.push(await withCluster(dir, `detect${n}`, n, settings.profile, (c) => detectionTrials(c, settings, progress)));
  }
  const stall = await withCluster(dir, 'stall', 5, settings.profile, (c) => stallRounds(c, settings, progress));
  const idle = await withCluster(dir, 'idle', 5, settings.profile, (c) => idleBandwidth(c, settings, progress));
  return { profile: settings.profile, config: swimConfig(settings.profile), detection, stall, idle, elapsedS: (performance.now() - started) / 1000 };
}

async function withCluster<T>(dir: string, label: string, n: number, profile: SwimProfile, body: (c: SwimCluster) => Promise<T>): Promise<T> {
  const cluster = new SwimCluster(join(dir, label), profile);
  try {
    await cluster.start(n);
    return await body(cluster);
  } finally {
    await cluster.stopAll();
  }
}

// ------------------------------------------------------------------ a. detection

async function detectionTrials(cluster: SwimCluster, settings: SwimBenchSettings, progress: (msg: string) => void): Promise<DetectionResult> {
  const n = cluster.size;
  const expected = swimExpectation(settings.profile, n);
  // Well past the slowest declaration Lifeguard allows (no confirmation at all: the maximum timeout).
  const timeoutMs = expected.deadHighMs + 2 * expected.probeIntervalMs + 10_000;
  const trials: DetectionTrial[] = [];
  const rejoins: number[] = [];
  const names = cluster.names();
  for (let i = 0; i < settings.detectionTrials; i++) {
    const victim = names[i % names.length] as string;
    const survivors = names.filter((x) => x !== victim);
    const killedAt = cluster.kill(victim);
    await cluster.waitFor(timeoutMs, () => survivors.every((s) => cluster.events.some((e) => e.observer === s && e.event === 'dead' && e.name === victim && e.atMs >= killedAt)));
    const after = cluster.events.filter((e) => e.atMs >= killedAt && e.observer !== victim);
    const about = after.filter((e) => e.name === victim);
    const firstAt = (event: string): number | null => {
      const times = about.filter((e) => e.event === event).map((e) => e.atMs);
      return times.length === 0 ? null : Math.min(...times) - killedAt;
    };
    const deadBy = new Map<string, number>();
    const suspectBy = new Map<string, number>();
    for (const e of about) {
      const by = e.event === 'dead' ? deadBy : e.event === 'suspect' ? suspectBy : undefined;
      if (by !== undefined && !by.has(e.observer)) by.set(e.observer, e.atMs - killedAt);
    }
    const trial: DetectionTrial = {
      victim,
      firstSuspectMs: firstAt('suspect'),
      firstDeadMs: firstAt('dead'),
      lastDeadMs: deadBy.size === survivors.length ? Math.max(...deadBy.values()) : null,
      missingDead: survivors.filter((s) => !deadBy.has(s)),
      suspectByMs: Object.fromEntries(suspectBy),
      deadByMs: Object.fromEntries(deadBy),
      otherSuspects: after.filter((e) => e.name !== victim && e.event === 'suspect').length,
      otherDeads: after.filter((e) => e.name !== victim && e.event === 'dead').length,
    };
    trials.push(trial);
    const restartAt = performance.now();
    await cluster.restart(victim);
    await cluster.waitAllAlive(60_000);
    rejoins.push(performance.now() - restartAt);
    const ms = (v: number | null): string => (v === null ? '-' : `${Math.round(v)}`);
    progress(`  swim n=${n} trial ${i + 1}/${settings.detectionTrials}: kill ${victim}: first suspect ${ms(trial.firstSuspectMs)} ms, dead first ${ms(trial.firstDeadMs)} / last ${ms(trial.lastDeadMs)} ms${trial.missingDead.length > 0 ? `, NOT declared dead by ${trial.missingDead.join(',')}` : ''}${trial.otherSuspects + trial.otherDeads > 0 ? `, ${trial.otherSuspects} suspect / ${trial.otherDeads} dead about others` : ''}; all alive again ${Math.round(rejoins.at(-1) ?? 0)} ms after restart`);
    // A moment for the rejoin's broadcasts to drain, so the next probe round starts from rest.
    await sleep(1_000);
  }
  const dist = (pick: (t: DetectionTrial) => number | null): Distribution => distribution(trials.map(pick).filter((v): v is number => v !== null));
  return {
    nodes: n,
    expected,
    trials,
    firstSuspect: dist((t) => t.firstSuspectMs),
    firstDead: dist((t) => t.firstDeadMs),
    lastDead: dist((t) => t.lastDeadMs),
    rejoin: distribution(rejoins),
  };
}

// ------------------------------------------------------------------ b. stalls

async function stallRounds(cluster: SwimCluster, settings: SwimBenchSettings, progress: (msg: string) => void): Promise<StallResult> {
  const names = cluster.names();
  const start = Date.now();
  const rounds: StallRound[] = [];
  for (let i = 0; i < settings.stalls; i++) {
    const node = names[Math.floor(Math.random() * names.length)] as string;
    const roundStart = Date.now();
    const before = await cluster.stats(node);
    const stalled = await cluster.stall(node, settings.stallMs);
    const healthScoreAfter = (await cluster.stats(node)).healthScore;
    let healthScoreMax = healthScoreAfter;
    let last = before;
    const gapEnd = performance.now() + settings.stallGapMs;
    while (performance.now() < gapEnd) {
      await sleep(Math.min(100, Math.max(0, gapEnd - performance.now())));
      last = await cluster.stats(node);
      healthScoreMax = Math.max(healthScoreMax, last.healthScore);
    }
    const inRound = cluster.events.filter((e) => e.atMs >= roundStart);
    const round: StallRound = {
      node,
      stalledMs: stalled,
      healthScoreAfter,
      healthScoreMax,
      refutations: last.refutations - before.refutations,
      probeFailures: last.probeFailures - before.probeFailures,
      suspects: inRound.filter((e) => e.event === 'suspect').length,
      deads: inRound.filter((e) => e.event === 'dead').length,
    };
    rounds.push(round);
    progress(`  swim stall ${i + 1}/${settings.stalls}: ${node} blocked ${Math.round(stalled)} ms: ${round.suspects} suspect, ${round.deads} dead events; it refuted ${round.refutations}, failed ${round.probeFailures} probes; its health score ${healthScoreAfter} after, max ${healthScoreMax}`);
  }
  // Every member stayed alive throughout, so any dead event is a false positive.
  const during = cluster.events.filter((e) => e.atMs >= start);
  const suspects = during.filter((e) => e.event === 'suspect');
  return {
    nodes: cluster.size,
    stallMs: settings.stallMs,
    gapMs: settings.stallGapMs,
    rounds,
    falseDeads: during.filter((e) => e.event === 'dead').length,
    suspects: suspects.length,
    suspectsOfStalled: suspects.filter((e) => e.name === rounds[e.round]?.node).length,
    suspectsOfOthers: suspects.filter((e) => e.name !== rounds[e.round]?.node).length,
  };
}

// ------------------------------------------------------------------ c. idle bandwidth

/** After convergence: the join's broadcasts have gone their retransmit rounds by then. */
const IDLE_SETTLE_S = 5;

async function idleBandwidth(cluster: SwimCluster, settings: SwimBenchSettings, progress: (msg: string) => void): Promise<IdleResult> {
  await sleep(IDLE_SETTLE_S * 1000);
  const names = cluster.names();
  const before = await Promise.all(names.map((n) => cluster.stats(n)));
  const t0 = performance.now();
  await sleep(settings.idleS * 1000);
  const after = await Promise.all(names.map((n) => cluster.stats(n)));
  const s = (performance.now() - t0) / 1000;
  const perNode = names.map((name, i) => {
    const a = after[i] as SwimStats;
    const b = before[i] as SwimStats;
    return { name, sentBps: (a.bytesSent - b.bytesSent) / s, receivedBps: (a.bytesReceived - b.bytesReceived) / s, packetsSentPs: (a.packetsSent - b.packetsSent) / s };
  });
  const mean = (xs: number[]): number => xs.reduce((x, y) => x + y, 0) / Math.max(1, xs.length);
  const result: IdleResult = {
    nodes: cluster.size,
    idleS: s,
    settleS: IDLE_SETTLE_S,
    perNode,
    sentMeanBps: mean(perNode.map((p) => p.sentBps)),
    sentMaxBps: Math.max(...perNode.map((p) => p.sentBps)),
    receivedMeanBps: mean(perNode.map((p) => p.receivedBps)),
    receivedMaxBps: Math.max(...perNode.map((p) => p.receivedBps)),
  };
  progress(`  swim idle ${Math.round(s)} s at n=${cluster.size}: sent ${Math.round(result.sentMeanBps)} B/s mean (max ${Math.round(result.sentMaxBps)}), received ${Math.round(result.receivedMeanBps)} B/s mean per node`);
  return result;
}

// ------------------------------------------------------------------ the processes

interface ObservedEvent {
  /** The member that emitted the event. */
  readonly observer: string;
  readonly event: string;
  /** The member it is about. */
  readonly name: string;
  readonly atMs: number;
  /** Index of the stall round it fell in (-1 before the first stall). */
  readonly round: number;
}

type ReplyKind = Extract<SwimNodeLine, { reply: string }>['reply'];

interface Waiter {
  readonly resolve: (line: SwimNodeLine) => void;
  readonly reject: (err: Error) => void;
}

interface SwimChild {
  readonly name: string;
  port: number;
  child: ChildProcess;
  exited: Promise<void>;
  done: boolean;
  /** FIFO of callers waiting for a reply of each kind (a child answers its commands in order). */
  readonly waiting: Map<ReplyKind, Waiter[]>;
}

class SwimCluster {
  readonly events: ObservedEvent[] = [];
  readonly #dir: string;
  readonly #profile: SwimProfile;
  readonly #members = new Map<string, SwimChild>();
  #round = 0;

  constructor(dir: string, profile: SwimProfile) {
    this.#dir = dir;
    this.#profile = profile;
  }

  get size(): number {
    return this.#members.size;
  }

  names(): string[] {
    return [...this.#members.keys()];
  }

  /** node1 alone, then the others at once with node1 as their seed; resolves when all see all alive. */
  async start(n: number): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const first = await this.#spawn('node1', 0, []);
    const seed = `127.0.0.1:${first.port}`;
    await Promise.all(Array.from({ length: n - 1 }, (_, i) => this.#spawn(`node${i + 2}`, 0, [seed])));
    await this.waitAllAlive(30_000);
  }

  /** SIGKILL by PID; returns Date.now() just before the signal (event times are Date.now() too). */
  kill(name: string): number {
    const m = this.#member(name);
    const at = Date.now();
    if (m.child.pid !== undefined && !m.done) process.kill(m.child.pid, 'SIGKILL');
    return at;
  }

  /** Same name and port (another address would be another member until deadNodeReclaimTimeMs), joined via the others. */
  async restart(name: string): Promise<void> {
    const m = this.#member(name);
    await m.exited;
    const seeds = [...this.#members.values()].filter((o) => o.name !== name && !o.done).map((o) => `127.0.0.1:${o.port}`);
    await this.#spawn(name, m.port, seeds);
  }

  async stall(name: string, ms: number): Promise<number> {
    this.#round++;
    const sentAt = performance.now();
    await this.#request(name, `stall ${ms}`, 'stalled');
    return performance.now() - sentAt;
  }

  async stats(name: string): Promise<SwimStats> {
    // swim-node prints swim.stats() as it is.
    return (await this.#request(name, 'stats', 'stats')).stats as SwimStats;
  }

  async waitAllAlive(timeoutMs: number): Promise<void> {
    const names = this.names();
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const views = await Promise.all(
        names.map(async (n) => {
          const line = await this.#request(n, 'members', 'members');
          return new Map(line.members.map((m) => [m.name, m.state]));
        }),
      );
      if (views.every((v) => names.every((x) => v.get(x) === 'alive'))) return;
      if (performance.now() > deadline) {
        const seen = views.map((v, i) => `${names[i] ?? '?'} sees ${[...v].map(([k, s]) => `${k}=${s}`).join(' ')}`).join('; ');
        throw new Error(`swim: not every member alive everywhere within ${timeoutMs} ms: ${seen}`);
      }
      await sleep(100);
    }
  }

  async waitFor(timeoutMs: number, done: () => boolean): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!done()) {
      if (performance.now() > deadline) return false;
      await sleep(20);
    }
    return true;
  }

  async stopAll(): Promise<void> {
    await Promise.all(
      [...this.#members.values()].map(async (m) => {
        if (m.done || m.child.pid === undefined) return;
        m.child.stdin?.end('exit\n');
        const timer = sleep(2_000, 'timeout' as const);
        if ((await Promise.race([m.exited, timer])) === 'timeout' && !m.done) process.kill(m.child.pid, 'SIGKILL');
        await m.exited;
      }),
    );
  }

  #member(name: string): SwimChild {
    const m = this.#members.get(name);
    if (m === undefined) throw new Error(`swim: no member ${name}`);
    return m;
  }

  #request<K extends ReplyKind>(name: string, command: string, reply: K): Promise<Extract<SwimNodeLine, { reply: K }>> {
    const m = this.#member(name);
    if (m.done) return Promise.reject(new Error(`swim: ${name} has exited`));
    return new Promise((resolve, reject) => {
      const queue = m.waiting.get(reply) ?? [];
      m.waiting.set(reply, queue);
      // The line is routed here by its `reply` field, so it is the variant K names.
      queue.push({ resolve: (line) => resolve(line as Extract<SwimNodeLine, { reply: K }>), reject });
      m.child.stdin?.write(`${command}\n`, (err) => {
        if (err) reject(err);
      });
    });
  }

  async #spawn(name: string, port: number, seeds: string[]): Promise<SwimChild> {
    const args: SwimNodeArgs = { name, port, seeds, profile: this.#profile, key: GOSSIP_KEY };
    const stderrPath = join(this.#dir, `${name}.stderr`);
    const err = openSync(stderrPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [...RECOMMENDED_NODE_FLAGS, SWIM_NODE, JSON.stringify(args)], { stdio: ['pipe', 'pipe', err] });
    } finally {
      closeSync(err);
    }
    // A command written to a member just SIGKILLed fails with EPIPE; its exit rejects the waiters.
    child.stdin?.on('error', () => undefined);
    const member: SwimChild = { name, port, child, exited: Promise.resolve(), done: false, waiting: new Map() };
    member.exited = new Promise((resolve) => {
      child.once('exit', () => {
        member.done = true;
        for (const queue of member.waiting.values()) for (const w of queue.splice(0)) w.reject(new Error(`swim: ${name} exited before answering`));
        resolve();
      });
    });
    this.#members.set(name, member);
    const ready = new Promise<number>((resolve, reject) => {
      void member.exited.then(async () => {
        reject(new Error(`swim: ${name} exited before it was ready: ${(await readFile(stderrPath, 'utf8').catch(() => '')).slice(-1500)}`));
      });
      if (child.stdout === null) throw new Error('no stdout pipe');
      createInterface({ input: child.stdout }).on('line', (text) => {
        let line: SwimNodeLine;
        try {
          line = JSON.parse(text) as SwimNodeLine;
        } catch {
          return;
        }
        if ('ready' in line) resolve(line.port);
        else if ('event' in line) this.events.push({ observer: name, event: line.event, name: line.name, atMs: line.atMs, round: this.#round - 1 });
        else member.waiting.get(line.reply)?.shift()?.resolve(line);
      });
    });
    member.port = await ready;
    return member;
  }
}

export function distribution(values: readonly number[]): Distribution {
  const sorted = Float64Array.from(values).sort();
  return {
    count: sorted.length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] ?? Number.NaN),
    meanMs: sorted.length === 0 ? Number.NaN : sorted.reduce((a, b) => a + b, 0) / sorted.length,
  };
}
