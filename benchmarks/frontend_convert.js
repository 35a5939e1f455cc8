// Load a UI workflow in ComfyUI's own frontend (served by a local ComfyUI) and print the API prompt
// its graphToPrompt makes, as the Queue button would send it: the reference for our converter.
//
//   npm install playwright-core          # and Debian's chromium: apt-get install chromium
//   node benchmarks/frontend_convert.js http://127.0.0.1:8195 workflows/some.json > frontend.json
//   python3 -m comfy_editloss convert workflows/some.json -o ours.json    # then compare the two
//
// A fidelity check run by hand against a ComfyUI started with this pack in custom_nodes/.
const { chromium } = require('playwright-core');
const fs = require('fs');
(async () => {
  const [url, file] = process.argv.slice(2);
  const workflow = JSON.parse(fs.readFileSync(file, 'utf8'));
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', e => console.error('pageerror', e.message));
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.app && window.app.graph && window.app.vueAppReady !== false, null, { timeout: 60000 });
  await page.waitForTimeout(3000);
  const result = await page.evaluate(async (wf) => {
    await window.app.loadGraphData(wf);
    const p = await window.app.graphToPrompt();
    return p.output;
  }, workflow);
  console.log(JSON.stringify(result));
  await browser.close();
})().catch(e => { console.error(e); process.exit(1); });
