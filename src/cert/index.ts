export * from './model';
export { ChainCache, parseCertificates } from './parse';
export { coversName, nameCoverage, xmppNameMatch, type XmppService } from './names';
