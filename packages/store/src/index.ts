export * from './store.js';
export * from './memory-log.js';
export * from './durable-log.js';
export * from './frame.js';
