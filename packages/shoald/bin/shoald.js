#!/usr/bin/env node
import { runFromArgv } from '../dist/src/index.js';
await runFromArgv(process.argv.slice(2));
