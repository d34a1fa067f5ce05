/**
 * Lets a bench script require the TypeScript test helpers (test/helpers/pebble.ts starts a real
 * Pebble) instead of keeping a second copy in JavaScript: .ts files are transpiled on require with
 * the project's own TypeScript compiler (no type check; the test build checks types).
 */
const fs = require('node:fs');
const ts = require('typescript');

require.extensions['.ts'] = (module, filename) => {
  const source = fs.readFileSync(filename, 'utf8');
  const { outputText } = ts.transpileModule(source, {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  module._compile(outputText, filename);
};
