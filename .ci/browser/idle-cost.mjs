// What an open dashboard costs the emulator: opens /_emulator/ui in Debian's Chromium for
// SECONDS (default 60) with no other traffic, and reports the requests the page made, their
// statuses and bytes, and the CPU time the emulator process (PCE_PID) used meanwhile, read from
// /proc. Not run by CI (it waits a minute); see the README's "Dashboard" section for figures.
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";

const base = process.env.PCE_URL;
const pid = process.env.PCE_PID;
const seconds = Number(process.env.SECONDS_OPEN || 60);
if (!base || !pid) throw new Error("set PCE_URL and PCE_PID");

// utime + stime of the process, in clock ticks (100 a second on Linux).
const cpuTicks = () => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(fields[11]) + Number(fields[12]);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
await page.goto(base + "/_emulator/ui");
await page.locator("#live", { hasText: "Live" }).waitFor();
const statuses = {};
let bytes = 0;
page.on("response", async (r) => {
  const key = `${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`;
  statuses[key] = (statuses[key] || 0) + 1;
  try { bytes += (await r.body()).length; } catch (_) { /* 304s have no body */ }
});
const before = cpuTicks();
await page.waitForTimeout(seconds * 1000);
const ticks = cpuTicks() - before;
await browser.close();
const total = Object.values(statuses).reduce((a, b) => a + b, 0);
console.log(JSON.stringify({
  seconds, requests: total, requestsPerMinute: Math.round((total * 60) / seconds), byStatus: statuses,
  bodyBytes: bytes, emulatorCpuMs: ticks * 10, emulatorCpuPercent: +((ticks * 10) / (seconds * 10)).toFixed(3),
}, null, 2));
