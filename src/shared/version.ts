/**
 * The package version, read once from package.json (two levels up from src/ and dist/), and the
 * build facts scripts/build-info.js writes beside the compiled code (dist/build-info.json): the
 * git revision and the build date, "unknown" when absent (e.g. under ts-jest, from src/).
 */
import fs from 'node:fs';
import path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const VERSION: string = (require('../../package.json') as { version: string }).version;

export interface BuildInfo {
  revision: string;
  date: string;
}

function readBuildInfo(): BuildInfo {
  try {
    const info = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'build-info.json'), 'utf8')) as Partial<BuildInfo>;
    return { revision: String(info.revision ?? 'unknown'), date: String(info.date ?? 'unknown') };
  } catch {
    return { revision: 'unknown', date: 'unknown' };
  }
}

export const BUILD: BuildInfo = readBuildInfo();

/** What `xmpp-cert --version` prints, in the layout of the Prometheus exporters' `--version`. */
export function versionText(): string {
  return [
    `xmpp-cert, version ${VERSION} (revision: ${BUILD.revision})`,
    `  build date:       ${BUILD.date}`,
    `  node version:     ${process.version}`,
    `  platform:         ${process.platform}/${process.arch}`,
  ].join('\n');
}
