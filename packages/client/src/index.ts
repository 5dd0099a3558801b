/**
 * @shoal/client: the typed SDK for Shoal's HTTP API, with mutual TLS, keep-alive and failover
 * across the cluster's nodes.
 */
export { createShoalClient } from './client.js';
export type {
  CallOptions,
  ListInstancesOptions,
  BgpStatus,
  Member,
  RawRequestOptions,
  ReadyStatus,
  ShoalClient,
  ShoalClientInit,
  ShoalResponse,
  ShoalStatus,
  SlbBackend,
  SlbBackendType,
  SlbClient,
  SlbLoadBalancer,
  WriteOptions,
} from './client.js';
export { CLIENT_DEFAULTS } from './constants.js';
export { ShoalApiError, ShoalConnectionError } from './errors.js';
export type { AttemptPhase, EndpointFailure } from './errors.js';
export type { HttpMethod } from './transport.js';
