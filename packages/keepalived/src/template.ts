/**
 * Where the default template lives: deploy/keepalived/keepalived.conf.hbs in the repository,
 * next to the other files an operator installs, so the copy an operator edits and the one
 * shoald renders by default are the same file. Read once, on first use (a packaged asset,
 * not state: renderKeepalivedConfig stays a function of its input).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ShoalError } from '@shoal/model';

/** dist/src/template.js -> ../../../../deploy: the workspace root's deploy directory. */
export const DEFAULT_TEMPLATE_PATH = fileURLToPath(new URL('../../../../deploy/keepalived/keepalived.conf.hbs', import.meta.url));

let cached: string | undefined;

/** The default template's text; E_CONFIG when the file is not where the repository puts it. */
export function defaultKeepalivedTemplate(): string {
  if (cached === undefined) {
    try {
      cached = readFileSync(DEFAULT_TEMPLATE_PATH, 'utf8');
    } catch (err) {
      throw new ShoalError('E_CONFIG', `keepalived: cannot read the default template ${DEFAULT_TEMPLATE_PATH} (${(err as Error).message}); pass a template`, { cause: err });
    }
  }
  return cached;
}
