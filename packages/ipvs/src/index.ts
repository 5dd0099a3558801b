export * from './constants.js';
export {
  afOf,
  buildDelDest,
  buildDelService,
  buildFlush,
  buildGetDests,
  buildGetServices,
  buildNewDest,
  buildNewService,
  buildSetDest,
  buildSetService,
  decodeDestAttrs,
  decodeNetmask,
  decodeServiceAttrs,
  destAttrs,
  isScheduler,
  nestedOf,
  netmaskAttr,
  serviceAttrs,
  serviceIdAttrs,
  toVirtualService,
  type IpvsDestEntry,
  type IpvsServiceEntry,
  type ServiceId,
  type ServiceSpec,
} from './codec.js';
export { IpvsError, toIpvsError, type IpvsOperation } from './errors.js';
export { fileOwnership, memoryOwnership, type OwnershipRecord } from './ownership.js';
export { createIpvsDataplane, type IpvsDataplane, type IpvsDataplaneInit } from './dataplane.js';
export { IPVS_SYSCTLS, enableIpvsSysctls, type SysctlChange } from './sysctl.js';
