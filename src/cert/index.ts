export * from './model';
export { ChainCache, parseCertificates } from './parse';
export { coversName, nameCoverage } from './names';
