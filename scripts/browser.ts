import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The Chromium the dashboard's browser tests drive (playwright-core brings no browser of
 * its own): `CHROMIUM_PATH`, or the first one installed in a usual place.
 */
const CANDIDATES = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
];

const HOW = 'Install Chromium (Debian/Ubuntu: apt-get install chromium; macOS: brew install --cask chromium) or set CHROMIUM_PATH.';

const executable = (path: string) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

export function findChromium(): string | null {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  return CANDIDATES.find(executable) ?? null;
}

/** The browser's path, or an error that says how to get one. */
export function chromiumPath(): string {
  const path = findChromium();
  if (!path) throw new Error(`No Chromium for the browser tests. ${HOW}`);
  return path;
}

/**
 * `node scripts/browser.ts` (the first step of `npm test`): on a fresh Debian machine run as
 * root (CI's, this project's dev machines), installs Debian's `chromium` package when no
 * browser is found, so `npm test` needs nothing else. Anywhere else it only says what is
 * missing; the browser tests then fail with the same message, and the rest still run.
 */
if (process.argv[1] === fileURLToPath(import.meta.url) && !findChromium()) {
  if (process.getuid?.() === 0 && executable('/usr/bin/apt-get')) {
    console.error('npm test: no Chromium for the browser tests; installing Debian\'s package (apt-get install chromium)...');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    if (!findChromium()) throw new Error(`apt-get installed chromium, but no browser was found afterwards. ${HOW}`);
  } else {
    console.error(`npm test: no Chromium, so the dashboard's browser tests will fail. ${HOW}`);
  }
}
