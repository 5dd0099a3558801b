export * from './errors.js';
export * from './ip.js';
export * from './labels.js';
export * from './instance.js';
export * from './pool.js';
export * from './invariants.js';
export * from './validation.js';
export * from './roles.js';
