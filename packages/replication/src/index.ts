export { REPLICATION_DEFAULTS, replicationConfig, type ReplicationConfig, type ReplicationInit } from './config.js';
export { stateDigest } from './digest.js';
export { CLUSTER_PATH_PREFIX, createHttpsPeerLink, type HttpsPeerLinkInit } from './https-link.js';
export { createMemoryReplicaNetwork, type MemoryReplicaNetwork } from './memory-link.js';
export { MESSAGE_SYNC_STEP1, MESSAGE_SYNC_STEP2, MESSAGE_UPDATE, ReplicationProtocolError, decodeMessages, decodeVector, encodeMessages, type SyncMessage } from './protocol.js';
export {
  PeerOrigin,
  createReplicator,
  type PeerDirectory,
  type PeerLink,
  type PeerReplicationStatus,
  type ReplicaPeer,
  type ReplicatedStore,
  type ReplicationStatus,
  type Replicator,
  type ReplicatorComponents,
} from './replicator.js';
