/**
 * Protocol configuration, modelled on memberlist's config.go: one structure, every field saying
 * what it does and why its default is what it is, and named profiles. `lan` is memberlist's
 * DefaultLANConfig; `local` is its DefaultLocalConfig (the LAN profile with a few overrides for a
 * loopback network). Fields memberlist does not have are marked "(shoal)".
 */
import { z } from 'zod';
import { SwimError } from './errors.js';
import { MAX_ADDRESS_BYTES, MAX_NAME_BYTES } from './codec.js';
import { sealOverhead } from './security.js';

export interface SwimConfig {
  /**
   * Time between probe rounds; each round probes one member. Lower detects failures sooner at
   * the cost of bandwidth. Scaled by (health score + 1) when this node is degraded (Lifeguard).
   * @default 1000 (lan, local): failure check every second.
   */
  probeIntervalMs: number;
  /**
   * How long to wait for a direct ack before asking others to probe indirectly. Should be the
   * 99th percentile RTT of the network. Scaled by (health score + 1) like the interval.
   * @default 500 (lan): a reasonable LAN RTT bound. 200 (local): loopback is fast.
   */
  probeTimeoutMs: number;
  /**
   * Members asked to ping a target that missed its direct ack (SWIM 3.1 ping-req). Any one ack
   * suffices, so more helpers make a false suspicion less likely at the price of bandwidth.
   * @default 3 (lan). 1 (local): loopback does not lose packets on one path only.
   */
  indirectChecks: number;
  /**
   * A broadcast is retransmitted retransmitMult * ceil(log10(n + 1)) times, so dissemination
   * keeps up with cluster size (SWIM 4.1: infection-style dissemination).
   * @default 4 (lan). 2 (local).
   */
  retransmitMult: number;
  /**
   * Base suspicion timeout is suspicionMult * max(1, log10(n)) * probeIntervalMs, giving a
   * suspect that is actually alive time to hear the rumour and refute it; also sets the number
   * of confirmations Lifeguard waits for (suspicionMult - 2).
   * @default 4 (lan). 3 (local).
   */
  suspicionMult: number;
  /**
   * The suspicion timer starts at this multiple of the base timeout and shrinks toward the base
   * as independent confirmations arrive (Lifeguard 4.2, LHA-Suspicion). Large, so a node with
   * its own problems cannot quickly declare healthy members dead.
   * @default 6 (lan, local): for 10k nodes a 120 s upper bound, as memberlist.
   */
  suspicionMaxTimeoutMult: number;
  /**
   * Lifeguard local health: the score saturates at awarenessMaxMultiplier - 1, so probing slows
   * down to at most this multiple of the interval when this node looks degraded.
   * @default 8 (lan, local): probe interval backs off to 8 s.
   */
  awarenessMaxMultiplier: number;
  /**
   * Time between gossip rounds that send queued broadcasts which could not piggyback on probe
   * traffic. 0 disables gossip rounds (broadcasts then only piggyback).
   * @default 200 (lan): gossip more often than probing. 100 (local).
   */
  gossipIntervalMs: number;
  /**
   * Random members each gossip round sends to.
   * @default 3 (lan, local).
   */
  gossipNodes: number;
  /**
   * How long after a member is declared dead we keep gossiping to it, so that if it is in fact
   * alive it hears the news and refutes.
   * @default 30000 (lan): same as push-pull. 15000 (local).
   */
  gossipToTheDeadMs: number;
  /**
   * Time between full state exchanges over TCP with one random live member (anti-entropy:
   * repairs what lossy gossip missed). Stretched for clusters over 32 members. 0 disables.
   * @default 30000 (lan): low frequency, it is the expensive path. 15000 (local).
   */
  pushPullIntervalMs: number;
  /**
   * Bound on connecting, writing and reading one push-pull stream.
   * @default 10000 (lan). 1000 (local).
   */
  tcpTimeoutMs: number;
  /**
   * A dead member's name may be taken by a different address once it has been dead this long
   * (a replaced machine). Left members can be replaced at once. 0 means never.
   * @default 30000 (lan), 15000 (local). (shoal) memberlist defaults to 0 but forgets dead members
   * after gossipToTheDead, which amounts to the same wait; we retain dead members longer (see
   * deadMemberRetentionMs), so the reclaim window is explicit.
   */
  deadNodeReclaimTimeMs: number;
  /**
   * Most bytes put in one UDP packet, encryption included; also the largest packet accepted.
   * Must be the same on every member.
   * @default 1400 (lan, local): fits a 1500 byte Ethernet MTU with IP/UDP headers to spare.
   */
  udpBufferSize: number;
  /**
   * Largest encoded metadata (see README for the encoding). Alive messages carry it, so it must
   * fit a packet with a maximal name and address.
   * @default 512 (lan, local): memberlist's MetaMaxSize.
   */
  metaMaxBytes: number;
  /**
   * (shoal) How often to try a push-pull with one random member we believe dead (not left), so
   * the halves of a healed partition find each other again (what Serf's reconnect does above
   * memberlist). 0 disables.
   * @default 30000 (lan), 15000 (local).
   */
  reconnectIntervalMs: number;
  /**
   * (shoal) Dead and left members stay in members() (and are reconnect candidates) this long
   * after their last state change, then are forgotten.
   * @default 86400000 (lan, local): a day, Serf's reconnect and tombstone timeouts.
   */
  deadMemberRetentionMs: number;
  /**
   * (shoal) Replay protection: per sender, sequence numbers older than the newest by this much
   * are rejected, and each one inside the window is accepted once. A multiple of 32.
   * @default 1024 (lan, local): far more reordering than UDP shows, 128 bytes per sender.
   */
  replayWindow: number;
  /**
   * (shoal) Largest push-pull frame accepted on a stream; a longer length prefix closes the
   * stream before anything is buffered.
   * @default 8388608 (lan, local): room for thousands of members with full metadata.
   */
  maxStreamFrameBytes: number;
  /**
   * (shoal) Inbound push-pull streams served at once; more are closed at once so a flood of
   * connections cannot exhaust memory (memberlist's maxPushPulls).
   * @default 128 (lan, local).
   */
  maxConcurrentStreams: number;
  /**
   * (shoal) Default wait in leave() for the leave broadcast to go out.
   * @default 5000 (lan, local): the broadcast takes a few gossip rounds even in large clusters.
   */
  leaveTimeoutMs: number;
}

export type SwimProfile = 'lan' | 'local';

/** memberlist DefaultLANConfig. */
const LAN: SwimConfig = {
  probeIntervalMs: 1000, // Failure check every second
  probeTimeoutMs: 500, // Reasonable RTT time for LAN
  indirectChecks: 3, // Use 3 nodes for the indirect ping
  retransmitMult: 4, // Retransmit a message 4 * log(N+1) nodes
  suspicionMult: 4, // Suspect a node for 4 * log(N+1) * Interval
  suspicionMaxTimeoutMult: 6, // For 10k nodes this will give a max timeout of 120 seconds
  awarenessMaxMultiplier: 8, // Probe interval backs off to 8 seconds
  gossipIntervalMs: 200, // Gossip more rapidly
  gossipNodes: 3, // Gossip to 3 nodes
  gossipToTheDeadMs: 30_000, // Same as push/pull
  pushPullIntervalMs: 30_000, // Low frequency
  tcpTimeoutMs: 10_000, // Timeout after 10 seconds
  deadNodeReclaimTimeMs: 30_000, // What memberlist's forgetting dead nodes after gossipToTheDead amounts to
  udpBufferSize: 1400, // Ethernet MTU minus headers
  metaMaxBytes: 512, // memberlist MetaMaxSize
  reconnectIntervalMs: 30_000, // Serf's reconnect interval
  deadMemberRetentionMs: 86_400_000, // Serf's reconnect/tombstone timeout
  replayWindow: 1024, // Far beyond real reordering
  maxStreamFrameBytes: 8 * 1024 * 1024, // Thousands of members
  maxConcurrentStreams: 128, // memberlist maxPushPulls
  leaveTimeoutMs: 5000, // A few gossip rounds, with room
};

/** memberlist DefaultLocalConfig: the LAN profile with these overrides. */
const LOCAL_OVERRIDES: Partial<SwimConfig> = {
  tcpTimeoutMs: 1000,
  indirectChecks: 1,
  retransmitMult: 2,
  suspicionMult: 3,
  pushPullIntervalMs: 15_000,
  probeTimeoutMs: 200,
  probeIntervalMs: 1000,
  gossipIntervalMs: 100,
  gossipToTheDeadMs: 15_000,
  deadNodeReclaimTimeMs: 15_000,
  reconnectIntervalMs: 15_000,
};

const ms = (min: number) => z.int('must be an integer number of milliseconds').min(min, `must be >= ${min}`).max(2 ** 31 - 1, 'must fit a 32-bit timer');
const count = (min: number, max: number) => z.int('must be an integer').min(min, `must be >= ${min}`).max(max, `must be <= ${max}`);

const SwimConfigSchema = z
  .strictObject({
    probeIntervalMs: ms(1),
    probeTimeoutMs: ms(1),
    indirectChecks: count(0, 32),
    retransmitMult: count(1, 100),
    suspicionMult: count(1, 100),
    suspicionMaxTimeoutMult: count(1, 100),
    awarenessMaxMultiplier: count(1, 100),
    gossipIntervalMs: ms(0),
    gossipNodes: count(0, 64),
    gossipToTheDeadMs: ms(0),
    pushPullIntervalMs: ms(0),
    tcpTimeoutMs: ms(1),
    deadNodeReclaimTimeMs: ms(0),
    udpBufferSize: count(1024, 65_507),
    metaMaxBytes: count(0, 65_535),
    reconnectIntervalMs: ms(0),
    deadMemberRetentionMs: z.int().min(0, 'must be >= 0'),
    replayWindow: count(32, 65_536).refine((n) => n % 32 === 0, 'must be a multiple of 32'),
    maxStreamFrameBytes: count(65_536, 256 * 1024 * 1024),
    maxConcurrentStreams: count(1, 65_536),
    leaveTimeoutMs: ms(0),
  })
  .superRefine((c, ctx) => {
    if (c.probeTimeoutMs >= c.probeIntervalMs) {
      ctx.addIssue({ code: 'custom', path: ['probeTimeoutMs'], message: `must be less than probeIntervalMs (${c.probeIntervalMs}): the indirect probe needs the rest of the round` });
    }
    const room = c.udpBufferSize - aliveFixedBytes();
    if (c.metaMaxBytes > room) {
      ctx.addIssue({ code: 'custom', path: ['metaMaxBytes'], message: `must be <= ${room}: an alive message with maximal name and address must fit udpBufferSize (${c.udpBufferSize})` });
    }
  });

/**
 * Bytes of one sealed packet carrying only an alive message, everything but the metadata at its
 * largest: sealing + compound header and slot + type, incarnation, name, address, port.
 */
function aliveFixedBytes(): number {
  return sealOverhead(MAX_NAME_BYTES) + 2 + 2 + 1 + 4 + (1 + MAX_NAME_BYTES) + (1 + MAX_ADDRESS_BYTES) + 2;
}

/** Throws SwimError E_CONFIG naming the first bad field. */
export function validateConfig(config: unknown): SwimConfig {
  const parsed = SwimConfigSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue === undefined || issue.path.length === 0 ? '(root)' : issue.path.join('.');
    throw new SwimError('E_CONFIG', `swim config: ${path}: ${issue?.message ?? 'invalid'}`);
  }
  return Object.freeze(parsed.data);
}

/** A profile's defaults with `overrides` applied, validated. Throws SwimError E_CONFIG. */
export function swimConfig(profile: SwimProfile, overrides: Partial<SwimConfig> = {}): SwimConfig {
  let base: SwimConfig;
  switch (profile) {
    case 'lan':
      base = LAN;
      break;
    case 'local':
      base = { ...LAN, ...LOCAL_OVERRIDES };
      break;
    default:
      throw new SwimError('E_CONFIG', `swim config: profile: unknown profile ${JSON.stringify(profile)} (lan | local)`);
  }
  return validateConfig({ ...base, ...overrides });
}
