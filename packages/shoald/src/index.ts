export { ShoaldConfigSchema, parseConfig, loadConfigFile, ConfigError, type ShoaldConfig, type ShoaldConfigInput } from './config.js';
export { startShoald, SHOALD_VERSION, RECOMMENDED_NODE_FLAGS, type RunningShoald, type StartOptions } from './daemon.js';
export { runFromArgv } from './main.js';
