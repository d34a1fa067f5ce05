export * from './model';
export { ChainCache, certificateFromX509, parseCertificates } from './parse';
export { coversName, nameCoverage, xmppNameMatch, type XmppService } from './names';
export { spkiOfPrivateKey } from './key-spki';
