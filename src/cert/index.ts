export * from './model';
export { ChainCache, certificateFromX509, parseCertificates } from './parse';
export { coversName, nameCoverage, xmppNameMatch, type XmppService } from './names';
export { daneMatch, isUsableTlsa, tlsaMatchesCertificate, type TlsaAssociation } from './dane';
export { spkiOfPrivateKey } from './key-spki';
export { x509Blocks } from './x509-blocks';
