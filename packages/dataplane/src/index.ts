export * from './types.js';
export { desiredServices, compareServers, compareServices, type DesiredInputs, type BackendHealth } from './desired.js';
export { planChanges, touchedServiceKeys } from './plan.js';
export { createReconciler, RECONCILER_DEFAULTS, type Reconciler, type ReconcilerInit, type ReconcileResult, type ReconcilerStatus } from './reconciler.js';
export { createMemoryDataplane, type MemoryDataplane } from './memory.js';
