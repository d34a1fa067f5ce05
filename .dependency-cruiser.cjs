/**
 * The layer rules of docs/architecture.md, enforced by dependency-cruiser (`npm run lint:deps`,
 * part of `npm run lint` and `.ci/run`). Imports point down, never up, never sideways except
 * where SIDEWAYS allows it:
 *
 *   cli, commands                      the command line
 *   processes                          one wiring module per process (exporter, worker)
 *   http, metrics, renewal, notify     what a process does
 *   evaluate                           pure judgement of the model
 *   sources, discovery                 reading the world into the model
 *   cert, config, state, model, shared the vocabulary every layer speaks
 *
 * Type-only imports count: a type pulled from a higher layer is still a dependency on it.
 */
const LAYERS = [
  ['cli', 'commands'],
  ['processes'],
  ['http', 'metrics', 'renewal', 'notify'],
  ['evaluate'],
  ['sources', 'discovery'],
  ['cert', 'config', 'state', 'model', 'shared'],
];

/** The only sideways imports inside a layer. Everything else in the same layer is forbidden. */
const SIDEWAYS = {
  commands: [],
  cli: ['commands'],
  http: ['metrics'], // http serves what metrics renders
  sources: ['discovery'], // the inventory asks discovery which files Prosody uses
  model: ['cert'], // the inventory and probe contracts carry certificates
  cert: ['shared'],
  config: ['shared'],
  state: ['shared'],
  shared: [],
};

/** The path of a "directory" of src: src/cli.ts is the cli. */
const dir = (name) => (name === 'cli' ? '^src/cli\\.ts$' : `^src/${name}/`);

const rules = [];
LAYERS.forEach((layer, depth) => {
  const above = LAYERS.slice(0, depth).flat();
  for (const name of layer) {
    const siblings = layer.filter((other) => other !== name && !(SIDEWAYS[name] ?? []).includes(other));
    const forbidden = [...above, ...siblings];
    if (forbidden.length === 0) continue;
    rules.push({
      name: `layer-${name}`,
      comment: `${name} may not import ${forbidden.join(', ')} (docs/architecture.md: imports point down)`,
      severity: 'error',
      from: { path: dir(name) },
      to: { path: forbidden.map(dir) },
    });
  }
});

module.exports = {
  forbidden: [
    ...rules,
    {
      name: 'evaluate-reads-the-model',
      comment:
        'evaluate judges the model (src/model, src/cert); it never imports sources or discovery, not even their types: ' +
        'what both sides need is a type in src/model',
      severity: 'error',
      from: { path: '^src/evaluate/' },
      to: { path: ['^src/sources/', '^src/discovery/'] },
    },
    {
      name: 'pure-core',
      comment: 'cert, model and evaluate do no I/O: no file system, network, processes or timers of their own',
      severity: 'error',
      from: { path: ['^src/cert/', '^src/model/', '^src/evaluate/'] },
      to: {
        dependencyTypes: ['core'],
        path: '^(node:)?(fs|fs/promises|net|tls|dns|dns/promises|http|https|http2|child_process|worker_threads|dgram|cluster|readline)$',
      },
    },
    {
      name: 'no-circular',
      comment: 'no import cycles, between directories or inside one',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-dev-deps-in-src',
      comment: 'src ships in the package; devDependencies are not installed there',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'no-undeclared-deps',
      comment: 'every package src imports is in package.json',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'not-unresolvable',
      comment: 'an import that resolves to nothing',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.build.json' },
    exoticRequireStrings: [],
  },
};
