/** The public data shapes: what a member looks like to the application. */

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

export interface Member {
  name: string;
  /** Gossip address: UDP and TCP on the same port. */
  address: string;
  port: number;
  state: MemberState;
  incarnation: number;
  /** Small string map; its encoded size is limited by config.metaMaxBytes. */
  meta: Readonly<Record<string, string>>;
  /** Clock milliseconds of the last state change. */
  stateChangedAtMs: number;
}

/**
 * join: a member first seen, or back after dead/left. suspect: alive -> suspect. alive: suspect ->
 * alive (refuted). dead: declared failed. leave: left on purpose. update: metadata or address
 * changed while alive.
 */
export type SwimEvent = 'join' | 'suspect' | 'alive' | 'dead' | 'leave' | 'update';

export interface SwimStats {
  packetsSent: number;
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** Push-pull streams this node dialled successfully. */
  streamsOpened: number;
  /** Push-pull streams this node accepted. */
  streamsAccepted: number;
  /** Packets and stream frames dropped, by reason. */
  dropped: { decrypt: number; malformed: number; replay: number; tooLarge: number; unknownSender?: number };
  /** Lifeguard local health multiplier (0 = healthy). */
  healthScore: number;
  probes: number;
  probeFailures: number;
  /** Members this node moved from alive to suspect. */
  suspicionsRaised: number;
  /** Times this node refuted a suspect or dead claim about itself. */
  refutations: number;
}
