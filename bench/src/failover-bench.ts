/**
 * VIP failover through real kernels: how long a client of the VIP goes unanswered when its
 * owner dies or leaves, for Shoal's internal election and for keepalived driven by shoald,
 * and whether an idle cluster ever moves the VIP by itself. The lab is failover-lab.ts.
 *
 *  1. internal, host crash: the owner's shoald SIGKILLed AND its switch port down (a
 *     process-only kill leaves the VIP and the nft rules in its kernel and traffic flows on,
 *     which measures nothing). Failover = crash -> the client's first good answer to a request
 *     sent after the link went down.
 *  2. internal, planned handover: SIGTERM to the owner's shoald (it leaves, the peers elect and
 *     claim, then it releases). Outage = the longest gap between good answers around it.
 *  3. keepalived mode at two advert intervals: keepalived SIGKILLed + link down, measured as 1.
 *  4. idle: VIP moves and client gaps while nothing happens (false failovers).
 *
 * Between trials the node comes back (link up, the same config and data dir) and the bench
 * waits for every member alive everywhere, exactly one holder, and the claim delay over.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasCommand, labSkipReason } from '@shoal/testkit';
import { FAILOVER_LOG_DIR } from './repo.js';
import { CLIENT_INTERVAL_MS, CLIENT_TIMEOUT_MS, FAILOVER_NET, FailoverLab, makeFailoverCerts, now, until, type ClientSample, type FailoverShoaldSettings, type LogLine } from './failover-lab.js';
import { distribution, type Distribution } from './swim-bench.js';

/**
 * shoald settings of the internal-election lab. SWIM: the local profile with the brief's probe
 * timers. claimDelayMs is lowered from the 5,000 ms default so the wait between trials is
 * shorter; it only holds a just-restarted node back and plays no part in a failover.
 */
export const FAILOVER_SHOALD: FailoverShoaldSettings = { probeIntervalMs: 200, probeTimeoutMs: 100, reannounceIntervalMs: 2_000, claimDelayMs: 1_500 };
export const CLAIM_DELAY_DEFAULT_MS = 5_000;
/** The issue's targets. */
export const FAILOVER_TARGETS = { crashP99Ms: 1_000, handoverP99Ms: 100, falseFailovers: 0, idleGapMs: 200 } as const;
/** keepalived advert intervals measured (s). */
export const KEEPALIVED_ADVERTS: readonly number[] = [1, 0.1];

/** keepalived's figures from the l2 recipe (5 runs each, ping every 10 ms, outage = first reply after the gap - action). */
export const RECIPE_KEEPALIVED: Readonly<Record<string, { readonly label: string; readonly minMs: number; readonly medianMs: number; readonly maxMs: number }>> = {
  '1': { label: 'multicast, advert 1 s, port down', minMs: 3045, medianMs: 3082, maxMs: 3105 },
  '0.1': { label: 'unicast peers, advert 0.1 s, port down', minMs: 321, medianMs: 350, maxMs: 366 },
};

/** A trial whose client sees no good answer for this long is recorded as failed. */
const FAILOVER_WAIT_MS = 15_000;
const RECOVERY_TIMEOUT_MS = 90_000;
/** After a trial has recovered: the rejoin's gossip drains before the next crash. */
const SETTLE_MS = 1_000;
/** Samples of the holders during recovery and idle. */
const RECOVERY_SAMPLE_MS = 100;
const IDLE_SAMPLE_MS = 500;

export interface FailoverBenchSettings {
  /** Trials per kind (BENCH_FAILOVER_TRIALS). */
  readonly trials: number;
  /** Idle window for the false-failover count (BENCH_IDLE_S). */
  readonly idleS: number;
  /** shoald's log level in the labs (BENCH_FAILOVER_LOG_LEVEL). */
  readonly logLevel: 'info' | 'debug';
}

/** Bringing a node back after a trial, until the cluster is at rest again. */
export interface Recovery {
  /** The restarted shoald's ready line (or keepalived's restart) to "at rest" (all alive, one holder, stable). */
  readonly toStableMs: number;
  /** Longest gap between good client answers from the restart (link up) to at rest. */
  readonly gapMs: number;
  /** Most nodes seen holding the VIP at once once the restarted shoald was up (sampled every ~100 ms). */
  readonly maxHolders: number;
  /** Longest stretch sampled with no node holding the VIP. */
  readonly noHolderSampledMs: number;
  /** From the logs: the previous holder's 'VIP released' to the restarted node's 'VIP claimed' (positive: nobody held it). */
  readonly handBackMs: number | null;
  readonly holder: string;
}

export interface CrashTrial {
  readonly victim: string;
  readonly newOwner: string | null;
  /** Crash -> first good answer to a request sent after the link went down; null: none within 15 s. */
  readonly failoverMs: number | null;
  /** How long the crash itself took (signal + `ip link set down`): the timing's uncertainty. */
  readonly actionMs: number;
  /** internal: first 'member suspect' about the victim on a survivor; keepalived: -. */
  readonly suspectMs: number | null;
  /** internal: the new owner's own 'member suspect' about the victim (it claims on its own view). */
  readonly ownerSuspectMs: number | null;
  /** internal: 'VIP claimed' on the new owner; keepalived: shoald saw keepalived add the VIP there. */
  readonly claimedMs: number | null;
  /** internal: the new owner's first 'VIP announced' after its claim. */
  readonly announcedMs: number | null;
  readonly failedRequests: number;
  readonly recovery: Recovery | null;
}

export interface HandoverTrial {
  readonly leaver: string;
  readonly newOwner: string | null;
  /** Longest gap between good answers from the last one before the SIGTERM until 1 s after the hand-over settled. */
  readonly outageMs: number;
  readonly claimedMs: number | null;
  readonly announcedMs: number | null;
  /** The leaver's 'VIP released on shutdown'. */
  readonly releasedMs: number | null;
  /** The leaver's process exit. */
  readonly exitedMs: number | null;
  readonly failedRequests: number;
  readonly recovery: Recovery | null;
}

export interface IdleFigures {
  readonly idleS: number;
  readonly samples: number;
  /** Changes of the holder set between consecutive samples. */
  readonly vipMoves: number;
  /** Samples with no holder or more than one. */
  readonly samplesNotOne: number;
  /** 'VIP claimed' / 'VIP released' lines logged in the window (any node). */
  readonly claimsLogged: number;
  readonly releasesLogged: number;
  readonly suspectsLogged: number;
  readonly gapsOver200: readonly number[];
  readonly longestGapMs: number;
  readonly requests: number;
  readonly failedRequests: number;
}

export interface KeepalivedModeResult {
  readonly advertS: number;
  readonly preferred: string;
  readonly trials: readonly CrashTrial[];
  readonly failover: Distribution;
  readonly vipUp: Distribution;
  readonly error?: string;
}

export interface FailoverBenchResult {
  readonly skipped?: string;
  readonly trialsWanted: number;
  readonly shoald: FailoverShoaldSettings;
  readonly client: { readonly intervalMs: number; readonly timeoutMs: number };
  readonly crash?: { readonly trials: readonly CrashTrial[]; readonly failover: Distribution; readonly suspect: Distribution; readonly ownerSuspect: Distribution; readonly claimed: Distribution; readonly announced: Distribution; readonly error?: string };
  readonly handover?: { readonly trials: readonly HandoverTrial[]; readonly outage: Distribution; readonly claimed: Distribution; readonly released: Distribution; readonly error?: string };
  readonly rejoin?: { readonly gap: Distribution; readonly handBack: Distribution; readonly maxHolders: number };
  readonly idle?: IdleFigures;
  readonly idleError?: string;
  readonly keepalived: readonly KeepalivedModeResult[];
  readonly keepalivedSkipped?: string;
  readonly keepalivedVersion?: string;
  /** What shoald (or keepalived) did wrong, each with the log lines that show it. */
  readonly anomalies: readonly string[];
  readonly logDir: string;
  readonly cleanupProblems: readonly string[];
  readonly elapsedS: number;
}

export interface FailoverBenchInit {
  readonly workDir: string;
  readonly settings: FailoverBenchSettings;
  readonly progress: (msg: string) => void;
}

/**
 * What went wrong, grouped by kind: each kind once, with how often it happened and the log
 * lines of its first occurrence as evidence (forty identical hand-back reports say nothing more).
 */
export class Anomalies {
  readonly #kinds = new Map<string, { count: number; first: string; evidence: readonly string[] }>();

  add(kind: string, first: string, evidence: readonly string[] = []): void {
    const k = this.#kinds.get(kind);
    if (k === undefined) this.#kinds.set(kind, { count: 1, first, evidence });
    else k.count++;
  }

  list(): string[] {
    return [...this.#kinds].map(([kind, k]) => `${kind}: ${k.count} time${k.count === 1 ? '' : 's'}; first: ${k.first}${k.evidence.length > 0 ? `\n    ${k.evidence.join('\n    ')}` : ''}`);
  }
}

const VIP = FAILOVER_NET.vip;
const ms = (v: number | null): string => (v === null ? '-' : `${Math.round(v)}`);
const isVip = (l: LogLine): boolean => l['vip'] === VIP;

/** A log line, short, as evidence: node, time relative to t0, message, the fields that matter. */
function evidence(node: string, l: LogLine, t0: number): string {
  const fields = ['member', 'vip', 'event', 'reason', 'err']
    .filter((f) => l[f] !== undefined)
    .map((f) => {
      const v = l[f];
      return `${f}=${typeof v === 'string' ? v : JSON.stringify(v)}`;
    });
  return `${node} ${new Date(l.time).toISOString().slice(11, 23)} (${l.time - t0 >= 0 ? '+' : ''}${Math.round(l.time - t0)} ms) '${l.msg}'${fields.length > 0 ? ` ${fields.join(' ')}` : ''}`;
}

/** The lines about VIPs and membership on every node since `fromMs`, as evidence, in time order. */
async function timeline(lab: FailoverLab, fromMs: number, t0: number, toMs = Number.POSITIVE_INFINITY): Promise<string[]> {
  const interesting = /^(VIP |member |keepalived made|keepalived moved|shoald (ready|stopping|stopped))/;
  const all: { node: string; line: LogLine }[] = [];
  for (const n of lab.nodes) for (const line of await lab.logLines(n.name, Math.floor(fromMs))) if (line.time <= toMs && interesting.test(line.msg)) all.push({ node: n.name, line });
  return all.sort((a, b) => a.line.time - b.line.time).map((x) => evidence(x.node, x.line, t0));
}

async function firstLine(lab: FailoverLab, node: string, fromMs: number, match: (l: LogLine) => boolean): Promise<LogLine | undefined> {
  return (await lab.logLines(node, Math.floor(fromMs))).find(match);
}

/**
 * When the first frame of an announcement went out: 'VIP announced' is logged after the whole
 * burst, and carries the burst's duration and its first frame's offset.
 */
function firstFrameAt(l: LogLine): number {
  const duration = Number(l['durationMs']);
  const first = Number(l['firstFrameMs']);
  return Number.isFinite(duration) && Number.isFinite(first) ? l.time - duration + first : l.time;
}

/** Waits for the client's first good answer to a request sent at or after `sentFrom`. */
async function firstGoodAnswer(lab: FailoverLab, sentFrom: number): Promise<ClientSample | undefined> {
  const client = lab.client;
  if (client === undefined) throw new Error('no client loop');
  const deadline = now() + FAILOVER_WAIT_MS;
  for (;;) {
    const first = client.firstGoodSentAfter(sentFrom);
    if (first !== undefined) return first;
    if (now() > deadline) return undefined;
    await sleep(10);
  }
}

/** Polls until exactly one of `among` holds the VIP; null if that does not happen in `timeoutMs`. */
async function soleHolder(lab: FailoverLab, among: readonly string[], timeoutMs: number): Promise<string | null> {
  const deadline = now() + timeoutMs;
  for (;;) {
    const h = await lab.holders(among);
    if (h.length === 1) return h[0] ?? null;
    if (now() > deadline) return null;
    await sleep(20);
  }
}

interface RecoveryWatch {
  /** When counting holders starts to mean something (a restarted shoald has made its first pass). */
  readonly countFrom: number;
  /** When "at rest" may be declared at the earliest. */
  readonly notBefore: number;
  /** Besides exactly one holder, stable for a second, and all members alive everywhere. */
  readonly holderMustBe?: string;
}

/** Samples the holders until the cluster is at rest again; see Recovery. */
async function watchRecovery(lab: FailoverLab, tStart: number, readyAt: number, victim: string, watch: RecoveryWatch, anomalies: Anomalies, label: string): Promise<Recovery> {
  const client = lab.client;
  if (client === undefined) throw new Error('no client loop');
  const deadline = now() + RECOVERY_TIMEOUT_MS;
  let maxHolders = 0;
  let noHolderSince: number | null = null;
  let noHolderSampledMs = 0;
  let lastKey: string | null = null;
  let stableSince = now();
  let holders: string[];
  const overlaps: string[] = [];
  for (;;) {
    holders = await lab.holders();
    const t = now();
    const key = holders.join(',');
    if (key !== lastKey) {
      lastKey = key;
      stableSince = t;
    }
    if (t >= watch.countFrom) {
      if (holders.length > maxHolders) maxHolders = holders.length;
      if (holders.length > 1) overlaps.push(`${Math.round(t - readyAt)} ms after ready: ${key}`);
      if (holders.length === 0) {
        noHolderSince ??= t;
        noHolderSampledMs = Math.max(noHolderSampledMs, t - noHolderSince);
      } else {
        noHolderSince = null;
      }
    }
    const rightHolder = watch.holderMustBe === undefined || holders[0] === watch.holderMustBe;
    if (t >= watch.notBefore && holders.length === 1 && rightHolder && t - stableSince >= 1_000 && (await lab.allAlive())) break;
    if (t > deadline) {
      const tl = await timeline(lab, tStart - 1_000, tStart);
      throw new Error(`${label}: the cluster did not come to rest within ${RECOVERY_TIMEOUT_MS} ms of the restart (holders now: ${key || 'none'}${watch.holderMustBe === undefined ? '' : `, expected ${watch.holderMustBe}`})\n    ${tl.slice(-30).join('\n    ')}`);
    }
    await sleep(RECOVERY_SAMPLE_MS);
  }
  const end = now();
  const holder = holders[0] ?? '';
  // From the logs: the last release by another node before the restarted node's claim.
  const claim = await firstLine(lab, victim, tStart, (l) => l.msg === 'VIP claimed' && isVip(l));
  let handBackMs: number | null = null;
  if (claim !== undefined) {
    let release: LogLine | undefined;
    for (const n of lab.nodes) {
      if (n.name === victim) continue;
      for (const l of await lab.logLines(n.name, Math.floor(tStart))) if (l.msg === 'VIP released' && isVip(l) && l.time <= claim.time + 5_000 && (release === undefined || l.time > release.time)) release = l;
    }
    if (release !== undefined) handBackMs = claim.time - release.time;
  }
  const gap = client.longestGap(tStart, end);
  // Internal mode hands a VIP back make-before-break: the restarted node claims, and the holder
  // releases when its readiness flag reaches it, one gossip hop later. Two holders for that hop
  // are the design; only a long overlap is worth a look.
  const overlapIsDesign = lab.init.mode === 'internal' && (handBackMs === null || handBackMs > -1_000);
  if (overlaps.length > 0 && !overlapIsDesign) {
    const kind = lab.init.mode === 'internal'
      ? 'internal: VIP on two nodes at once while a node came back'
      : `keepalived advert_int ${lab.init.advertIntervalS ?? 1} s: VIP on two nodes at once while keepalived preempted back to the restarted node (VRRP: two masters until the old one hears the new adverts; see the keepalived logs)`;
    anomalies.add(kind, `${label}: ${overlaps.slice(0, 3).join('; ')}`, await timeline(lab, tStart - 500, readyAt, end));
  }
  if (handBackMs !== null && handBackMs > 0) {
    anomalies.add(
      "VIP on no node while handed back to a restarted node (the hand-back should be make-before-break: the restarted node claims before it gossips that it is ready)",
      `${label}: ${Math.round(handBackMs)} ms without a holder; the client's longest gap was ${Math.round(gap.gapMs)} ms`,
      (await timeline(lab, tStart - 500, readyAt, end)).filter((l) => l.includes("'VIP") || l.includes("'shoald ready'")),
    );
  }
  return { toStableMs: end - readyAt, gapMs: gap.gapMs, maxHolders, noHolderSampledMs, handBackMs, holder };
}

// ------------------------------------------------------------------ 1. internal, host crash

async function internalCrashTrial(lab: FailoverLab, i: number, trials: number, anomalies: Anomalies, progress: (m: string) => void): Promise<CrashTrial> {
  const client = lab.client;
  if (client === undefined) throw new Error('no client loop');
  const before = await lab.holders();
  const victim = before[0];
  if (before.length !== 1 || victim === undefined) throw new Error(`crash trial ${i}: expected one holder, found ${before.join(',') || 'none'}`);
  const survivors = lab.nodes.map((n) => n.name).filter((n) => n !== victim);
  const node = lab.node(victim);
  const label = `internal crash ${i}/${trials}`;

  const t0 = now();
  const { downAt: tDown, orphans } = await lab.crashHost(victim);
  if (orphans.length > 0) anomalies.add('a SIGKILLed shoald leaves child processes running (reparented to init; no PR_SET_PDEATHSIG), which accumulate over crash/restart cycles', `${label}: ${orphans.join(', ')} outlived shoald ${node.shoald.pid}; the bench killed it as part of the host crash`);
  const first = await firstGoodAnswer(lab, tDown);
  const newOwner = await soleHolder(lab, survivors, 10_000);
  // The survivors' log lines are written as it happens; a moment for the last ones to land.
  await sleep(300);
  let suspect: number | null = null;
  for (const s of survivors) {
    const l = await firstLine(lab, s, t0, (x) => x.msg === 'member suspect' && x['member'] === victim);
    if (l !== undefined && (suspect === null || l.time < suspect)) suspect = l.time;
  }
  const ownerSuspect = newOwner === null ? undefined : await firstLine(lab, newOwner, t0, (x) => x.msg === 'member suspect' && x['member'] === victim);
  const claimed = newOwner === null ? undefined : await firstLine(lab, newOwner, t0, (l) => l.msg === 'VIP claimed' && isVip(l));
  const announced = claimed === undefined || newOwner === null ? undefined : await firstLine(lab, newOwner, claimed.time, (l) => l.msg === 'VIP announced' && isVip(l));
  const failoverMs = first === undefined ? null : first.recvMs - t0;
  const failed = client.counts(t0, first?.recvMs ?? now()).failed;
  if (first === undefined) anomalies.add('no good answer within 15 s of a crash', `${label}: crash of ${victim}`, await timeline(lab, t0 - 500, t0));
  if (suspect !== null && ownerSuspect !== undefined && ownerSuspect.time - suspect > 300) {
    anomalies.add(
      "the new owner suspected the crashed owner only by its own probe, well after another survivor's suspicion: the 'suspect' gossip did not reach it first",
      `${label}: first suspicion at +${Math.round(suspect - t0)} ms, ${newOwner ?? '?'}'s at +${Math.round(ownerSuspect.time - t0)} ms`,
      (await timeline(lab, t0 - 200, t0, (first?.recvMs ?? t0) + 100)).filter((l) => !l.includes("'VIP announced'")),
    );
  }
  if (claimed !== undefined && announced === undefined) anomalies.add("new owner claimed the VIP but logged no 'VIP announced'", `${label}: ${newOwner ?? '?'}`, await timeline(lab, t0 - 500, t0));
  if (ownerSuspect !== undefined && claimed !== undefined && claimed.time - ownerSuspect.time > 100) {
    // Normally 3-10 ms: the suspect event triggers an ownership pass, which adds the address at once.
    anomalies.add(
      "slow claim: the new owner logged 'VIP claimed' long after its own 'member suspect' (no error logged at info level)",
      `${label}: ${newOwner ?? '?'} suspected ${victim} at +${Math.round(ownerSuspect.time - t0)} ms, claimed at +${Math.round(claimed.time - t0)} ms`,
      (await lab.logLines(newOwner ?? victim, Math.floor(ownerSuspect.time) - 50)).filter((l) => l.time <= claimed.time).map((l) => evidence(newOwner ?? '?', l, t0)),
    );
  }
  if (failoverMs !== null && failoverMs >= FAILOVER_TARGETS.crashP99Ms) anomalies.add(`crash failover at or over ${FAILOVER_TARGETS.crashP99Ms} ms`, `${label}: ${Math.round(failoverMs)} ms`, await timeline(lab, t0 - 500, t0, (first?.recvMs ?? t0) + 500));

  // Back: link up, the same config and data dir.
  const tStart = now();
  await node.shoald.exited;
  await lab.linkUp(victim);
  const readyAt = await lab.startShoald(victim);
  const recovery = await watchRecovery(lab, tStart, readyAt, victim, { countFrom: readyAt + 250, notBefore: readyAt + FAILOVER_SHOALD.claimDelayMs + 1_000 }, anomalies, label);
  const trial: CrashTrial = {
    victim,
    newOwner,
    failoverMs,
    actionMs: tDown - t0,
    suspectMs: suspect === null ? null : suspect - t0,
    ownerSuspectMs: ownerSuspect === undefined ? null : ownerSuspect.time - t0,
    claimedMs: claimed === undefined ? null : claimed.time - t0,
    announcedMs: announced === undefined ? null : firstFrameAt(announced) - t0,
    failedRequests: failed,
    recovery,
  };
  progress(
    `  ${label}: ${victim} (SIGKILL + link down, ${trial.actionMs.toFixed(1)} ms) -> ${newOwner ?? 'nobody'}: first good answer ${ms(failoverMs)} ms (suspect ${ms(trial.suspectMs)}, by ${newOwner ?? '-'} ${ms(trial.ownerSuspectMs)}, claimed ${ms(trial.claimedMs)}, first GARP ${ms(trial.announcedMs)} ms), ${failed} requests failed; back: at rest ${ms(recovery.toStableMs)} ms after ready, longest gap ${ms(recovery.gapMs)} ms, hand-back ${ms(recovery.handBackMs)} ms, holder ${recovery.holder}`,
  );
  await sleep(SETTLE_MS);
  return trial;
}

// ------------------------------------------------------------------ 2. internal, planned handover

async function handoverTrial(lab: FailoverLab, i: number, trials: number, anomalies: Anomalies, progress: (m: string) => void): Promise<HandoverTrial> {
  const client = lab.client;
  if (client === undefined) throw new Error('no client loop');
  const before = await lab.holders();
  const leaver = before[0];
  if (before.length !== 1 || leaver === undefined) throw new Error(`handover trial ${i}: expected one holder, found ${before.join(',') || 'none'}`);
  const others = lab.nodes.map((n) => n.name).filter((n) => n !== leaver);
  const node = lab.node(leaver);
  const label = `internal SIGTERM ${i}/${trials}`;

  let exitedAt: number | null = null;
  void node.shoald.exited.then(() => (exitedAt = now()));
  const t0 = now();
  process.kill(node.shoald.pid, 'SIGTERM');
  let newOwner: string | null = null;
  try {
    await until(`${leaver} gone and one other holder`, 15_000, async () => {
      const h = await lab.holders(others);
      newOwner = h.length === 1 ? (h[0] ?? null) : null;
      return node.shoald.hasExited() && newOwner !== null;
    }, 20);
  } catch {
    anomalies.add('a SIGTERMed owner did not exit with one other node holding the VIP within 15 s', label, await timeline(lab, t0 - 500, t0));
  }
  await sleep(1_000);
  const end = now();
  const gap = client.longestGap(t0, end);
  const claimed = newOwner === null ? undefined : await firstLine(lab, newOwner, t0, (l) => l.msg === 'VIP claimed' && isVip(l));
  const announced = claimed === undefined || newOwner === null ? undefined : await firstLine(lab, newOwner, claimed.time, (l) => l.msg === 'VIP announced' && isVip(l));
  const released = await firstLine(lab, leaver, t0, (l) => l.msg.startsWith('VIP released') && isVip(l));
  const failed = client.counts(t0, end).failed;
  if (claimed !== undefined && announced === undefined) anomalies.add("new owner claimed the VIP but logged no 'VIP announced'", `${label}: ${newOwner ?? '?'}`, await timeline(lab, t0 - 500, t0));
  if (released !== undefined && claimed !== undefined && released.time < claimed.time) {
    anomalies.add(
      "SIGTERM: the leaving owner released the VIP before the new owner claimed it (daemon.ts intends 'a moment of overlap, not a gap': releaseAll() runs as soon as the leave broadcast is out, not once a successor holds it)",
      `${label}: ${leaver} released ${claimed.time - released.time} ms before ${newOwner ?? '?'} claimed`,
      await timeline(lab, t0 - 500, t0, end),
    );
  }
  if (gap.gapMs >= FAILOVER_TARGETS.handoverP99Ms) anomalies.add(`SIGTERM hand-over gap at or over ${FAILOVER_TARGETS.handoverP99Ms} ms`, `${label}: ${Math.round(gap.gapMs)} ms from ${Math.round(gap.startMs - t0)} ms after the SIGTERM`, await timeline(lab, t0 - 500, t0, end));

  const tStart = now();
  const readyAt = await lab.startShoald(leaver);
  const recovery = await watchRecovery(lab, tStart, readyAt, leaver, { countFrom: readyAt + 250, notBefore: readyAt + FAILOVER_SHOALD.claimDelayMs + 1_000 }, anomalies, label);
  const trial: HandoverTrial = {
    leaver,
    newOwner,
    outageMs: gap.gapMs,
    claimedMs: claimed === undefined ? null : claimed.time - t0,
    announcedMs: announced === undefined ? null : firstFrameAt(announced) - t0,
    releasedMs: released === undefined ? null : released.time - t0,
    exitedMs: exitedAt === null ? null : (exitedAt as number) - t0,
    failedRequests: failed,
    recovery,
  };
  progress(
    `  ${label}: ${leaver} -> ${newOwner ?? 'nobody'}: longest gap ${ms(trial.outageMs)} ms (claimed ${ms(trial.claimedMs)}, first GARP ${ms(trial.announcedMs)}, old released ${ms(trial.releasedMs)}, exited ${ms(trial.exitedMs)} ms), ${failed} requests failed; back: at rest ${ms(recovery.toStableMs)} ms after ready, longest gap ${ms(recovery.gapMs)} ms, hand-back ${ms(recovery.handBackMs)} ms`,
  );
  await sleep(SETTLE_MS);
  return trial;
}

// ------------------------------------------------------------------ 4. idle

async function idleWindow(lab: FailoverLab, idleS: number, anomalies: Anomalies, progress: (m: string) => void): Promise<IdleFigures> {
  const client = lab.client;
  if (client === undefined) throw new Error('no client loop');
  const t0 = now();
  let prev = (await lab.holders()).join(',');
  let samples = 0;
  let moves = 0;
  let notOne = 0;
  const moveTimes: string[] = [];
  let nextReport = t0 + 60_000;
  for (let k = 1; ; k++) {
    const due = t0 + k * IDLE_SAMPLE_MS;
    if (due > t0 + idleS * 1000) break;
    await sleep(Math.max(0, due - now()));
    const h = await lab.holders();
    samples++;
    if (h.length !== 1) notOne++;
    const key = h.join(',');
    if (key !== prev) {
      moves++;
      moveTimes.push(`${Math.round((now() - t0) / 1000)} s: ${prev || 'none'} -> ${key || 'none'}`);
      prev = key;
    }
    if (now() >= nextReport) {
      nextReport += 60_000;
      progress(`  idle: ${Math.round((now() - t0) / 1000)} / ${idleS} s, ${moves} VIP moves, ${client.gapsOver(FAILOVER_TARGETS.idleGapMs, t0, now()).length} client gaps > ${FAILOVER_TARGETS.idleGapMs} ms so far`);
    }
  }
  const t1 = now();
  let claims = 0;
  let releases = 0;
  let suspects = 0;
  for (const n of lab.nodes) {
    for (const l of await lab.logLines(n.name, Math.floor(t0))) {
      if (l.time > t1) continue;
      if (l.msg === 'VIP claimed' && isVip(l)) claims++;
      if (l.msg === 'VIP released' && isVip(l)) releases++;
      if (l.msg === 'member suspect') suspects++;
    }
  }
  const gapsOver200 = client.gapsOver(FAILOVER_TARGETS.idleGapMs, t0, t1);
  const counts = client.counts(t0, t1);
  const figures: IdleFigures = {
    idleS: (t1 - t0) / 1000,
    samples,
    vipMoves: moves,
    samplesNotOne: notOne,
    claimsLogged: claims,
    releasesLogged: releases,
    suspectsLogged: suspects,
    gapsOver200,
    longestGapMs: client.longestGap(t0, t1).gapMs,
    requests: counts.requests,
    failedRequests: counts.failed,
  };
  if (moves > 0 || claims > 0 || releases > 0 || suspects > 0 || gapsOver200.length > 0) {
    anomalies.add(
      'something moved while the cluster was idle',
      `idle ${Math.round(figures.idleS)} s: ${moves} VIP moves (${moveTimes.slice(0, 5).join('; ')}), ${claims} claims / ${releases} releases / ${suspects} suspicions logged, ${gapsOver200.length} client gaps > ${FAILOVER_TARGETS.idleGapMs} ms (${gapsOver200.slice(0, 5).map((g) => Math.round(g)).join(', ')} ms)`,
      (await timeline(lab, t0, t0, t1)).filter((l) => !l.includes("'VIP announced'")).slice(0, 30),
    );
  }
  progress(`  idle ${Math.round(figures.idleS)} s: ${samples} holder samples, ${moves} VIP moves, ${notOne} samples without exactly one holder; client: ${counts.requests} requests, ${counts.failed} failed, ${gapsOver200.length} gaps > ${FAILOVER_TARGETS.idleGapMs} ms, longest ${Math.round(figures.longestGapMs)} ms; logged: ${suspects} suspicions, ${claims} claims, ${releases} releases`);
  return figures;
}

// ------------------------------------------------------------------ 3. keepalived mode

/** The node whose rendered config gives the instance the highest priority: VRRP preempts back to it. */
async function keepalivedPreferred(lab: FailoverLab): Promise<string> {
  let best: { name: string; priority: number } | undefined;
  for (const n of lab.nodes) {
    const conf = await lab.keepalivedConfig(n.name);
    const p = /vrrp_instance[\s\S]*?priority (\d+)/.exec(conf)?.[1];
    if (p !== undefined && (best === undefined || Number(p) > best.priority)) best = { name: n.name, priority: Number(p) };
  }
  if (best === undefined) throw new Error('no rendered keepalived.conf holds a vrrp_instance');
  return best.name;
}

async function keepalivedCrashTrial(lab: FailoverLab, advertS: number, preferred: string, i: number, trials: number, anomalies: Anomalies, progress: (m: string) => void): Promise<CrashTrial> {
  const client = lab.client;
  if (client === undefined) throw new Error('no client loop');
  const before = await lab.holders();
  const victim = before[0];
  if (before.length !== 1 || victim === undefined) throw new Error(`keepalived trial ${i}: expected one holder, found ${before.join(',') || 'none'}`);
  const survivors = lab.nodes.map((n) => n.name).filter((n) => n !== victim);
  const node = lab.node(victim);
  const keepalived = node.keepalived;
  if (keepalived === undefined) throw new Error(`${victim} runs no keepalived`);
  const label = `keepalived advert ${advertS} s crash ${i}/${trials}`;

  const t0 = now();
  // SIGSTOP the parent, SIGKILL the VRRP child and the parent: no priority-0 advert, the VIP stays.
  await keepalived.stop('SIGKILL');
  await lab.linkDown(victim);
  const tDown = now();
  const first = await firstGoodAnswer(lab, tDown);
  const newOwner = await soleHolder(lab, survivors, 10_000);
  await sleep(300);
  const up = newOwner === null ? undefined : await firstLine(lab, newOwner, t0, (l) => l.msg === 'keepalived made this node the VIP holder' && isVip(l));
  const failoverMs = first === undefined ? null : first.recvMs - t0;
  const failed = client.counts(t0, first?.recvMs ?? now()).failed;
  if (first === undefined) anomalies.add('no good answer within 15 s of a crash', `${label}: crash of ${victim}`, await timeline(lab, t0 - 500, t0));

  const tStart = now();
  await lab.linkUp(victim);
  await lab.restartKeepalived(victim);
  const restartedAt = now();
  // keepalived removes its VIPs at start and preempts back once its master-down timer runs out.
  const recovery = await watchRecovery(lab, tStart, restartedAt, victim, { countFrom: restartedAt + 500, notBefore: restartedAt + 1_000, holderMustBe: preferred }, anomalies, label);
  const trial: CrashTrial = {
    victim,
    newOwner,
    failoverMs,
    actionMs: tDown - t0,
    suspectMs: null,
    ownerSuspectMs: null,
    claimedMs: up === undefined ? null : up.time - t0,
    announcedMs: null,
    failedRequests: failed,
    recovery,
  };
  progress(
    `  ${label}: ${victim} (keepalived SIGKILL + link down, ${trial.actionMs.toFixed(1)} ms) -> ${newOwner ?? 'nobody'}: first good answer ${ms(failoverMs)} ms (VIP up on the new master ${ms(trial.claimedMs)} ms), ${failed} requests failed; back: at rest ${ms(recovery.toStableMs)} ms after keepalived restarted, longest gap ${ms(recovery.gapMs)} ms`,
  );
  await sleep(SETTLE_MS);
  return trial;
}

// ------------------------------------------------------------------ the run

const present = (values: readonly (number | null)[]): number[] => values.filter((v): v is number => v !== null);

export async function runFailoverBench(init: FailoverBenchInit): Promise<FailoverBenchResult> {
  const started = now();
  const { settings, progress } = init;
  const base = { trialsWanted: settings.trials, shoald: FAILOVER_SHOALD, client: { intervalMs: CLIENT_INTERVAL_MS, timeoutMs: CLIENT_TIMEOUT_MS }, logDir: FAILOVER_LOG_DIR };
  const skipped = labSkipReason(['nft', 'curl']);
  if (skipped !== null) return { ...base, skipped, keepalived: [], anomalies: [], cleanupProblems: [], elapsedS: 0 };
  const keepalivedSkipped = hasCommand('keepalived') ? undefined : 'needs keepalived on the PATH (apt-get install keepalived)';
  const dir = join(init.workDir, 'failover');
  const certsDir = join(dir, 'certs');
  await mkdir(dir, { recursive: true });
  await makeFailoverCerts(certsDir);
  await rm(FAILOVER_LOG_DIR, { recursive: true, force: true });
  const anomalies = new Anomalies();
  const cleanupProblems: string[] = [];

  // Ctrl-C mid-run: still stop what this section started and delete its namespaces.
  let current: FailoverLab | undefined;
  const onSignal = (): void => void (current?.close(undefined) ?? Promise.resolve([])).finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const withLab = async <T>(lab: FailoverLab, body: (lab: FailoverLab) => Promise<T>): Promise<T> => {
    current = lab;
    try {
      await lab.start();
      return await body(lab);
    } finally {
      const problems = await lab.close(join(FAILOVER_LOG_DIR, lab.init.tag));
      for (const p of problems) progress(`  cleanup: ${p}`);
      cleanupProblems.push(...problems);
      current = undefined;
    }
  };

  let crash: FailoverBenchResult['crash'];
  let handover: FailoverBenchResult['handover'];
  let idle: IdleFigures | undefined;
  let idleError: string | undefined;
  const keepalived: KeepalivedModeResult[] = [];
  let keepalivedVersion: string | undefined;
  try {
    // ---- internal election: crash, SIGTERM, idle on one lab
    const crashTrials: CrashTrial[] = [];
    const handoverTrials: HandoverTrial[] = [];
    let crashError: string | undefined;
    let handoverError: string | undefined;
    progress(`  internal election: 3 shoald nodes in namespaces, claimDelayMs ${FAILOVER_SHOALD.claimDelayMs} (default ${CLAIM_DELAY_DEFAULT_MS}), probe ${FAILOVER_SHOALD.probeIntervalMs}/${FAILOVER_SHOALD.probeTimeoutMs} ms ...`);
    try {
      await withLab(new FailoverLab({ tag: 'in', dir: join(dir, 'in'), certsDir, mode: 'internal', shoald: FAILOVER_SHOALD, logLevel: settings.logLevel, progress }), async (lab) => {
        progress(`  cluster up, VIP on ${(await lab.holders()).join(',')}; client running`);
        try {
          for (let i = 1; i <= settings.trials; i++) crashTrials.push(await internalCrashTrial(lab, i, settings.trials, anomalies, progress));
        } catch (err) {
          crashError = (err as Error).message;
          progress(`  internal crash trials stopped: ${crashError}`);
          return;
        }
        try {
          for (let i = 1; i <= settings.trials; i++) handoverTrials.push(await handoverTrial(lab, i, settings.trials, anomalies, progress));
        } catch (err) {
          handoverError = (err as Error).message;
          progress(`  SIGTERM trials stopped: ${handoverError}`);
          return;
        }
        try {
          progress(`  idle: ${settings.idleS} s with the client running, holders sampled every ${IDLE_SAMPLE_MS} ms ...`);
          idle = await idleWindow(lab, settings.idleS, anomalies, progress);
        } catch (err) {
          idleError = (err as Error).message;
          progress(`  idle stopped: ${idleError}`);
        }
      });
    } catch (err) {
      const message = (err as Error).message;
      crashError ??= message;
      progress(`  internal lab failed: ${message}`);
    }
    crash = {
      trials: crashTrials,
      failover: distribution(present(crashTrials.map((t) => t.failoverMs))),
      suspect: distribution(present(crashTrials.map((t) => t.suspectMs))),
      ownerSuspect: distribution(present(crashTrials.map((t) => t.ownerSuspectMs))),
      claimed: distribution(present(crashTrials.map((t) => t.claimedMs))),
      announced: distribution(present(crashTrials.map((t) => t.announcedMs))),
      ...(crashError === undefined ? {} : { error: crashError }),
    };
    handover = {
      trials: handoverTrials,
      outage: distribution(handoverTrials.map((t) => t.outageMs)),
      claimed: distribution(present(handoverTrials.map((t) => t.claimedMs))),
      released: distribution(present(handoverTrials.map((t) => t.releasedMs))),
      ...(handoverError === undefined ? {} : { error: handoverError }),
    };

    // ---- keepalived mode, one lab per advert interval
    if (keepalivedSkipped === undefined) {
      for (const advertS of KEEPALIVED_ADVERTS) {
        const trials: CrashTrial[] = [];
        let preferred = '';
        let error: string | undefined;
        progress(`  keepalived mode, advert_int ${advertS} s: 3 shoald (ownership.mode keepalived) + keepalived per node ...`);
        try {
          await withLab(new FailoverLab({ tag: `ka${String(advertS).replace('.', '')}`, dir: join(dir, `ka${advertS}`), certsDir, mode: 'keepalived', shoald: FAILOVER_SHOALD, advertIntervalS: advertS, logLevel: settings.logLevel, progress }), async (lab) => {
            keepalivedVersion = lab.keepalivedVersion;
            preferred = await keepalivedPreferred(lab);
            await until(`VRRP settles on ${preferred}`, 60_000, async () => (await lab.holders()).join(',') === preferred, 200);
            progress(`  ${keepalivedVersion}: VIP on ${preferred} (highest priority); client running`);
            try {
              for (let i = 1; i <= settings.trials; i++) trials.push(await keepalivedCrashTrial(lab, advertS, preferred, i, settings.trials, anomalies, progress));
            } catch (err) {
              error = (err as Error).message;
              progress(`  keepalived trials stopped: ${error}`);
            }
          });
        } catch (err) {
          error ??= (err as Error).message;
          progress(`  keepalived lab failed: ${error}`);
        }
        keepalived.push({
          advertS,
          preferred,
          trials,
          failover: distribution(present(trials.map((t) => t.failoverMs))),
          vipUp: distribution(present(trials.map((t) => t.claimedMs))),
          ...(error === undefined ? {} : { error }),
        });
      }
    } else {
      progress(`  keepalived mode skipped: ${keepalivedSkipped}`);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await rm(dir, { recursive: true, force: true });
  }

  const recoveries = [...(crash.trials.map((t) => t.recovery) ?? []), ...(handover.trials.map((t) => t.recovery) ?? [])].filter((r): r is Recovery => r !== null);
  return {
    ...base,
    crash,
    handover,
    rejoin: {
      gap: distribution(recoveries.map((r) => r.gapMs)),
      handBack: distribution(present(recoveries.map((r) => r.handBackMs))),
      maxHolders: Math.max(0, ...recoveries.map((r) => r.maxHolders)),
    },
    ...(idle === undefined ? {} : { idle }),
    ...(idleError === undefined ? {} : { idleError }),
    keepalived,
    ...(keepalivedSkipped === undefined ? {} : { keepalivedSkipped }),
    ...(keepalivedVersion === undefined ? {} : { keepalivedVersion }),
    anomalies: anomalies.list(),
    cleanupProblems,
    elapsedS: (now() - started) / 1000,
  };
}
