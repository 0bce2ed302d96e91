import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { builtCliPath, repositoryRoot as repository, serveEnvironment, spawnServe } from './support/serve-process.ts';
import { freePort } from './support/server.ts';

const dist = path.join(repository, 'dist');
const run = promisify(execFile);

/** Every file under a directory, relative to it. */
const filesUnder = (directory: string) => fs.readdirSync(directory, { recursive: true, encoding: 'utf8' })
  .filter((file) => fs.statSync(path.join(directory, file)).isFile());

// npm start runs `npm run build` first, then the compiled server: what production runs, so it is
// built and started here as npm start does, on the embedded database.
describe('npm run build, as npm start runs it', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mekong-id-build-'));

  beforeAll(async () => {
    await run('npm', ['run', '--silent', 'build'], { cwd: repository });
  }, 120_000);

  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('compiles every source and migration to JavaScript, leaving no TypeScript for the server to strip', () => {
    const sources = (directory: string) => filesUnder(path.join(repository, directory)).filter((file) => file.endsWith('.ts'));
    const built = new Set(filesUnder(dist));
    for (const directory of ['src', 'migrations']) {
      for (const file of sources(directory)) expect(built, `${directory}/${file}`).toContain(path.join(directory, file.replace(/\.ts$/, '.js')));
    }
    expect([...built].filter((file) => file.endsWith('.ts'))).toEqual([]);
    expect(fs.readFileSync(builtCliPath, 'utf8')).toContain('"../src/cli/main.js"');
  });

  it('serves from dist/ on the embedded database, with its pages, static files and migrations', async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    // As npm start runs: in development, with the master key it generates in DATA_DIR.
    const env = serveEnvironment({ DATA_DIR: dataDir, PORT: String(port), ISSUER: issuer, NODE_ENV: 'development' });
    delete env['MASTER_KEY'];
    const serve = await spawnServe(env, builtCliPath);
    try {
      await serve.ready();
      const discovery = await fetch(`${issuer}/.well-known/openid-configuration`);
      expect(discovery.status).toBe(200);
      expect(((await discovery.json()) as { issuer: string }).issuer).toBe(issuer);

      const stylesheet = await fetch(`${issuer}/static/mekong.css`);
      expect(stylesheet.status).toBe(200);
      expect(await stylesheet.text()).toBe(fs.readFileSync(path.join(repository, 'views', 'static', 'mekong.css'), 'utf8'));

      const page = await fetch(`${issuer}/account/forgot`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<html lang="vi"');
    } finally {
      await serve.stop();
    }
    expect(serve.logLines().filter((line) => line.level >= 50)).toEqual([]);
  }, 90_000);
});
