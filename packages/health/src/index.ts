/**
 * @shoal/health: backend health checks like keepalived's real_server checks. A pure rise/fall
 * state machine, a scheduler that runs one probe loop per backend under a concurrency limit,
 * and a real TCP / HTTP / HTTPS prober behind the Prober interface.
 */
export { createHealthChecker } from './checker.js';
export type { HealthChecker, HealthCheckerInit, HealthCheckerComponents, HealthCheckerOptions, HealthChange, BackendHealthSnapshot } from './checker.js';
export { HEALTH_CHECKER_DEFAULTS } from './constants.js';
export { systemClock } from './clock.js';
export type { Clock, Timer } from './clock.js';
export { initialHealth, recordProbe, resetCounters } from './state-machine.js';
export type { HealthState, InitialState, Thresholds, BackendHealth, HealthStep } from './state-machine.js';
export { healthTargetsOf, targetKey, checkSignature } from './targets.js';
export type { HealthTarget, ActiveHealthCheck } from './targets.js';
export type { Prober, ProbeTarget, ProbeResult } from './prober.js';
export { createNetProber } from './net-prober.js';
export type { NetProberInit } from './net-prober.js';
