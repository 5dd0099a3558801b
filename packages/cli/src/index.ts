/**
 * @shoal/cli: shoalctl, the command-line client. `main` is the whole program (bin/shoalctl.js
 * calls it); the FlexLB translation and the exit-code table are exported for tools and docs.
 */
export { main } from './main.js';
export type { CliIo } from './main.js';
export { EXIT, EXIT_CODE_HELP, exitCodeFor } from './exit-codes.js';
export type { ExitCode } from './exit-codes.js';
export { isFlexLbTemplate, translateFlexLbTemplate } from './flexlb.js';
export type { FlexLbTranslation } from './flexlb.js';
