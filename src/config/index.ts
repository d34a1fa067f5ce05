export { loadConfig, formatIssue, type LoadOptions, type LoadedConfig } from './load';
export { configSchema, DEFAULT_PORT, type Config, type ThresholdSet } from './schema';
export { displayConfig } from './redact';
export { formatThreshold, parseDuration, type Threshold } from './units';
export { nearest, overrideWarnings, thresholdProblems } from './sanity';
