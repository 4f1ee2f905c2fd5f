// Loads a page in Debian's chromium (headless) and prints what a visitor sees, as JSON:
// the visible text, each state label with the contrast of its text on its background,
// whether the page scrolls sideways, how many scripts it has; and saves a screenshot.
// Usage: node page.mjs URL SCREENSHOT WIDTH HEIGHT [ACCEPT_LANGUAGE]
import { chromium } from "playwright-core";

const [url, shot, width, height, lang] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
});
try {
  const context = await browser.newContext({
    viewport: { width: Number(width), height: Number(height) },
    javaScriptEnabled: false, // the page must be whole without it
    locale: lang || "es-CO",
  });
  const page = await context.newPage();
  const response = await page.goto(url, { waitUntil: "load", timeout: 20000 });
  await page.screenshot({ path: shot, fullPage: true });
  const seen = await page.evaluate(() => {
    const rgb = (s) => s.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number);
    const lum = ([r, g, b]) => {
      const c = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * c(r) + 0.7152 * c(g) + 0.0722 * c(b);
    };
    const contrast = (a, b) => { const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x); return (hi + 0.05) / (lo + 0.05); };
    const labels = [...document.querySelectorAll("tr[data-zone]")].map((row) => {
      const span = row.querySelector(".state");
      const style = getComputedStyle(span);
      return {
        zone: row.dataset.zone,
        words: span.innerText,
        visible: span.getBoundingClientRect().width > 0,
        contrast: contrast(rgb(style.color), rgb(style.backgroundColor)),
      };
    });
    return {
      text: document.body.innerText,
      labels,
      sideways: document.documentElement.scrollWidth > window.innerWidth,
      scripts: document.scripts.length,
      lang: document.documentElement.lang,
    };
  });
  console.log(JSON.stringify({ status: response.status(), ...seen }));
} finally {
  await browser.close();
}
