/**
 * @shoal/keepalived: the keepalived (VRRP) mode of VIP ownership. Shoal decides the virtual
 * router ids (vrid.ts, pure) and renders keepalived.conf (render.ts, pure, Handlebars template
 * in deploy/keepalived/); the driver puts the file in place and reloads keepalived; the
 * observer learns which VIPs this node holds from the kernel's address events.
 */
export { assignVirtualRouterIds, planVirtualRouterIds, pickVrid, compareVridPriority, VRID_LIMITS, type VridCandidate, type VridRange, type VridPlan } from './vrid.js';
export {
  renderKeepalivedConfig,
  keepalivedTemplateView,
  compileKeepalivedTemplate,
  sanitizeInstanceName,
  KeepalivedConfigSchema,
  type KeepalivedConfigInput,
  type KeepalivedInstanceInput,
  type KeepalivedTemplateView,
  type KeepalivedTemplateInstance,
} from './render.js';
export { DEFAULT_TEMPLATE_PATH, defaultKeepalivedTemplate } from './template.js';
export { createKeepalivedDriver, runningKeepalivedPid, KeepalivedConfigError, type KeepalivedDriver, type KeepalivedDriverInit, type KeepalivedApplyResult } from './driver.js';
export { spawnKeepalived, type SpawnKeepalivedInit, type KeepalivedProcess } from './spawn.js';
export { createVipPresence, netlinkAddressSource, type VipPresence, type VipPresenceInit, type VipPresenceEvent, type AddressSource, type LocalAddress, type LocalAddressEvent } from './observer.js';
export { KEEPALIVED_DEFAULTS, GARP_DEFAULTS, PRIORITY_LIMITS, ADVERT_LIMITS, AUTH_PASS_MAX_LENGTH } from './constants.js';
