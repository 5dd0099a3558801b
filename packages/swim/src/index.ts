/**
 * @shoal/swim: cluster membership and failure detection, SWIM with the Lifeguard extensions, to
 * the pattern of HashiCorp memberlist. Encrypted and replay-protected gossip over UDP, push-pull
 * state exchange over TCP, an in-memory network for tests.
 */
export { createSwim } from './swim.js';
export type { Swim, SwimInit } from './swim.js';
export type { Member, MemberState, SwimEvent, SwimStats } from './types.js';
export { swimConfig } from './config.js';
export type { SwimConfig, SwimProfile } from './config.js';
export { Keyring, generateKey } from './security.js';
export { SwimError, SWIM_ERROR_CODES } from './errors.js';
export type { SwimErrorCode } from './errors.js';
// The clock is shared with @shoal/bgp and lives in @shoal/model; re-exported so users of swim need not know.
export { systemClock } from '@shoal/model';
export type { Clock } from '@shoal/model';
export { createUdpTcpTransport } from './transport.js';
export type { Transport, Stream, Endpoint, UdpTcpTransportInit } from './transport.js';
export { createMemoryNetwork } from './memory.js';
export type { MemoryNetwork, MemoryNetworkInit, MemoryNetworkStats } from './memory.js';
