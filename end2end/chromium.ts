// How the tests start Debian's Chromium (never a test tool's own download): as root, without
// its sandbox, and without the background connections this machine's closed network refuses.
export const chromium = {
  executablePath: '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
};
