/**
 * The YAML parser, behind a module of its own so that the configuration loads it only when it
 * reads or writes a file (load.ts imports this lazily). A static re-export, not a dynamic
 * `import('yaml')`: the package is CommonJS, and in the CLI's bundle a dynamic import of it would
 * give only a default export.
 */
export { parse, stringify } from 'yaml';
