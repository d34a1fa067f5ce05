export * from './model';
export { parseCertificates } from './parse';
export { coversName, nameCoverage } from './names';
