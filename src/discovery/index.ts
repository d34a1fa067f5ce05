/**
 * Discovery: prosody.cfg.lua -> hosts and options, and Prosody 0.12's certificate lookup -> the
 * files it would use per host and service. Reads config files only; certificate files are read by
 * src/sources/.
 */
export {
  parseProsodyConfig,
  loadProsodyConfig,
  enabledHosts,
  effectiveCertsDir,
  certificateOption,
  option,
  rawOption,
  aLabel,
  type ProsodyHost,
  type ParsedProsodyConfig,
  type ProsodyConfig,
  type LuaValue,
  type LuaTable,
} from './prosody-config';
export { nameprep } from './lua-config';
export {
  candidatePaths,
  findHostCert,
  serviceLookups,
  servicePorts,
  portCertificates,
  DIRECT_TLS_SERVICES,
  checkCertsView,
  identitiesOf,
  matchingKey,
  type LookupFacts,
  type IndexedFile,
  type Identity,
  type HostCert,
  type CandidatePair,
  type FileRule,
} from './cert-lookup';
