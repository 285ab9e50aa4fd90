// Builds the dashboard's static assets into the Python package, which the wheel ships and
// the gateway serves (python/saeta/gateway/static/). `npm run build`; setup runs it.
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// SAETA_STATIC_OUT: another folder (the flake builds the assets on their own, then copies them in).
const out = process.env.SAETA_STATIC_OUT || join(here, '..', 'python', 'saeta', 'gateway', 'static');

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const common = {
  bundle: true,
  format: 'esm',
  target: ['es2022'],
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
};
// The dashboard page, and the client module on its own for other pages to import.
await build({ ...common, entryPoints: [join(here, 'src', 'dashboard.js')], outfile: join(out, 'dashboard.js') });
await build({ ...common, entryPoints: [join(here, 'src', 'client.js')], outfile: join(out, 'saeta-client.js') });
await copyFile(join(here, 'src', 'index.html'), join(out, 'index.html'));
await copyFile(join(here, 'src', 'dashboard.css'), join(out, 'dashboard.css'));
console.log(`web: built ${out}`);
