export { createApiApp, API_DEFAULTS, type ApiComponents, type ApiInit, type ApiEnv, type ApiContext, type NodeInfo, type IdentifyInput } from './app.js';
export { identityFromCertificate, identityFromTlsSocket } from './identity.js';
export { listen, type ListenOptions, type RunningServer, type TlsMaterial } from './server.js';
export { slbView, slugForSlbName, type SlbLoadBalancer, type SlbBackend } from './routes/slb.js';
export { registerClusterRoutes, type ClusterSurface, type MemberView } from './routes/cluster.js';
