// Two tabs of the live page in headless Chromium (Debian's, through playwright-core):
// a drag in one moves the shape in the other, and the first tab's cursor shows in the
// second. Usage: node two-tabs.mjs URL SHAPE_ID (URL: the page with ?doc=&token=).
// Exits 0 when both hold; prints what it saw otherwise.
import { chromium } from "playwright-core";

const [url, shape] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const context = await browser.newContext();
  const [a, b] = [await context.newPage(), await context.newPage()];
  for (const page of [a, b]) {
    page.on("console", (m) => console.log(`[tab] ${m.text()}`));
    await page.goto(url);
    await page.waitForSelector(`[data-id="${shape}"]`, { timeout: 15000 });
  }
  const before = await b.getAttribute(`[data-id="${shape}"]`, "x");
  const box = await a.locator(`[data-id="${shape}"]`).boundingBox();
  const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
  await a.mouse.move(x, y);
  await a.mouse.down();
  for (let i = 1; i <= 10; i++) {
    await a.mouse.move(x + i * 10, y + i * 5);
    await a.waitForTimeout(30);
  }
  await a.mouse.up();
  const expected = String(Number(before) + 100);
  await b.waitForFunction(
    ([id, want]) => document.querySelector(`[data-id="${id}"]`)?.getAttribute("x") === want,
    [shape, expected],
    { timeout: 15000 },
  );
  // The first tab's cursor, as presence, is drawn in the second.
  await b.waitForSelector(".cursor", { timeout: 15000 });
  console.log(`moved ${shape} from x=${before} to x=${expected} in the other tab; cursor seen`);
} finally {
  await browser.close();
}
