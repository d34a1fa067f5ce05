/**
 * Discovery: prosody.cfg.lua -> hosts, and Prosody 0.12's certificate lookup -> the files it
 * would use per host. Reads config files only; certificate files are read by src/sources/.
 */
export {
  parseProsodyConfig,
  loadProsodyConfig,
  enabledHosts,
  effectiveCertsDir,
  certificateOption,
  type ProsodyHost,
  type ParsedProsodyConfig,
  type ProsodyConfig,
} from './prosody-config';
export { candidatePaths, findHostCert, type LookupFacts, type HostCert, type CandidatePair, type FileRule } from './cert-lookup';
