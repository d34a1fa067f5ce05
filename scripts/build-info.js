#!/usr/bin/env node
/**
 * Run by `npm run build` after tsc: writes dist/build-info.json with the git revision the package
 * was built from and the build date, which `xmpp-cert --version` and xmpp_cert_build_info show.
 * Outside a git checkout (or without git) the revision is "unknown". SOURCE_DATE_EPOCH, when set,
 * fixes the date, as reproducible builds expect.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const git = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' });
const revision = git.status === 0 ? git.stdout.trim() : 'unknown';
const epoch = Number(process.env.SOURCE_DATE_EPOCH);
const date = new Date(Number.isFinite(epoch) && epoch > 0 ? epoch * 1000 : Date.now()).toISOString();
fs.writeFileSync(path.join(root, 'dist', 'build-info.json'), `${JSON.stringify({ revision, date })}\n`);
