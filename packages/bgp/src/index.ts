export * from './messages.js';
export { BGP_ERROR_CODES, BgpError, BgpProtocolError, type BgpErrorCode } from './errors.js';
// --- codec exports (codec owner edits only this block) ---
export {
  encodeMessage,
  decodeMessage,
  endOfRib,
  isEndOfRib,
  packUpdates,
  packWithdrawals,
  BGP_VERSION,
  ROUTE_REFRESH_SUBCODE_INVALID_MESSAGE_LENGTH,
  type PackOptions,
} from './codec.js';
export { MessageFramer } from './framer.js';
export {
  parsePrefix,
  formatPrefix,
  hostPrefix,
  canonicalAddress,
  afiSafiOf,
  addressFamilyOf,
  prefixFamilyOf,
  type PrefixFamily,
} from './prefix.js';
export { CAPABILITY_CODE, OPEN_SUBCODE_UNSPECIFIC } from './capabilities.js';
export { ATTRIBUTE_TYPE, ATTRIBUTE_FLAG, WELL_KNOWN_COMMUNITY, community } from './attributes.js';
// --- end codec exports ---
// --- session/speaker exports (speaker owner edits only this block) ---
export { createBgpSpeaker, type BgpSpeaker, type BgpSpeakerComponents, type BgpSpeakerStopOptions } from './speaker.js';
export {
  bgpSpeakerConfig,
  bgpPeerConfig,
  bgpPeerConfigs,
  isGlobalIpv6,
  BGP_PEER_DEFAULTS,
  BGP_SPEAKER_DEFAULTS,
  type BgpSpeakerInit,
  type BgpPeerInit,
  type BgpGracefulRestartInit,
  type BgpSpeakerConfig,
  type BgpPeerConfig,
} from './config.js';
export { DEFAULT_LOCAL_PREF, MAX_AS_PATH_PREPEND, type BgpRoute } from './adj-rib-out.js';
export type { BgpPeerStatus, BgpPeerCounters, BgpFamilyStatus, BgpNegotiated, NotificationRecord } from './session.js';
export {
  BgpFsm,
  FSM_STATES,
  LARGE_HOLD_TIME_S,
  backoffS,
  jitter,
  keepaliveS,
  negotiateHoldTime,
  resolveCollision,
  type FsmState,
  type FsmEvent,
  type FsmAction,
  type FsmTimer,
  type FsmConfig,
  type FsmTransition,
  type NotificationSpec,
} from './fsm.js';
export { describeNotification } from './notification-text.js';
export type { BgpTransport, BgpConnection, BgpListener, BgpConnectOptions, BgpListenOptions } from './transport.js';
export { createTcpTransport, type TcpTransportInit } from './tcp-transport.js';
export { createMemoryNetwork, type MemoryNetwork, type MemoryHost, type MemoryConnectionInfo } from './memory-transport.js';
// The clock is shared with @shoal/swim and lives in @shoal/model; re-exported so users of bgp need not know.
export { systemClock, type Clock } from '@shoal/model';
// --- end session/speaker exports ---
