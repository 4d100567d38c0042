// The dashboard's browser test: Debian's Chromium, driven by playwright-core (which downloads no
// browser), against an emulator that .ci/run started on a manual clock (PCE_URL). It runs the
// README's seed flow through the Partner Center API and checks what the page shows as it happens;
// any console error or uncaught exception fails it. Screenshots go to $OUT (target/dashboard).
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const base = process.env.PCE_URL;
const out = process.env.OUT || "target/dashboard";
if (!base) throw new Error("PCE_URL is not set");
mkdirSync(out, { recursive: true });

const C = "c7f3c849-129f-4b85-a96d-4f8e88b315a3";
const C2 = "47021739-3426-40bf-9601-61b4b6d7c793";
const AUTH = { Authorization: "Bearer token", "Content-Type": "application/json" };
const TIMEOUT = 10_000;
const problems = [];
// Chromium logs every 4xx a script fetches as a console error; the one refused seed is expected.
let expected400 = 0;
const started = Date.now();
const step = (what) => console.log(`  [${((Date.now() - started) / 1000).toFixed(1)} s] ${what}`);

async function pc(method, path, body) {
  const res = await fetch(base + path, { method, headers: AUTH, body: body && JSON.stringify(body) });
  await res.arrayBuffer();
  return res;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // As this machine needs them: no sandbox as root, and no background traffic to closed networks.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});

// Every control-plane call the page makes: same origin, and JSON on every write (a later
// cross-site protection refuses anything else).
async function checkCalls(context, name) {
  await context.route("**/*", (route) => {
    const r = route.request();
    if (!r.url().startsWith(base + "/")) problems.push(`${name}: a request left the origin: ${r.url()}`);
    if (r.method() !== "GET" && r.headers()["content-type"] !== "application/json") {
      problems.push(`${name}: ${r.method()} ${r.url()} without Content-Type: application/json`);
    }
    return route.continue();
  });
}

// A small accessibility audit, run in the page: every form control has a label, every button a
// name, and every piece of visible text a contrast of at least 4.5:1 (3:1 when large) against
// the background it is drawn on.
function audit() {
  const problems = [];
  const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || el.closest("[hidden]")) continue;
    if (!el.labels?.length && !el.getAttribute("aria-label")) problems.push(`unlabelled ${el.tagName} #${el.id}`);
  }
  for (const el of document.querySelectorAll("button")) {
    if (!(el.textContent.trim() || el.getAttribute("aria-label"))) problems.push(`a button without a name: ${el.outerHTML.slice(0, 80)}`);
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el || el.closest("[hidden], dialog:not([open]), .visually-hidden, option, :disabled, script, style")) continue;
    const st = getComputedStyle(el);
    if (st.visibility === "hidden" || st.display === "none") continue;
    const fg = rgb(st.color), bg = background(el);
    const [a, b] = [lum(fg.slice(0, 3)), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(st.fontSize), bold = Number(st.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) problems.push(`contrast ${ratio.toFixed(2)} < ${need} for "${n.textContent.trim().slice(0, 40)}"`);
  }
  return [...new Set(problems)];
}

function watch(page, name, tolerated) {
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (tolerated && tolerated.test(m.text())) return;
    if (expected400 > 0 && /status of 400/.test(m.text())) { expected400--; return; }
    problems.push(`${name}: console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${name}: uncaught: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`${name}: request failed: ${r.url()} ${r.failure()?.errorText}`));
}

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await checkCalls(context, "desktop");
  const page = await context.newPage();
  watch(page, "desktop");
  const within = (selector, text) => page.locator(selector, { hasText: text }).first().waitFor({ timeout: TIMEOUT });

  await page.goto(base + "/_emulator/ui");
  await within("#customers", "No customers yet.");
  await within("#live", "Live");
  step("the empty dashboard loaded");

  // The seed flow, through the Partner Center API as an integration would run it.
  let res = await pc("POST", `/v1/customers/${C}/deviceBatches`, {
    BatchId: "SDKTestDeviceBatch",
    Devices: [{ HardwareHash: "DummyHash123", ProductKey: "00329-00000-0003-AA606", SerialNumber: "1R9-ZNP67" }],
  });
  if (res.status !== 202) throw new Error(`create batch: ${res.status}`);
  res = await pc("POST", `/v1/customers/${C}/deviceBatches/SDKTestDeviceBatch/devices`, [
    { HardwareHash: "DummyHash1234", SerialNumber: "2R9-ZNP67" },
    { HardwareHash: "DummyHash1234", SerialNumber: "2R9-ZNP67" },
  ]);
  if (res.status !== 202) throw new Error(`add devices: ${res.status}`);
  const job = res.headers.get("location").split("/").pop();

  await within("#customers", "SDKTestDeviceBatch");
  const badge = (status) => page.locator(`#jobs tr[data-job="${job}"] .badge`, { hasText: new RegExp(`^${status}$`) })
    .waitFor({ timeout: TIMEOUT });
  await badge("queued");
  step("the batch and its queued job appeared without a reload");

  // The clock, pressed in the UI: to the next transition (processing), then to the one after.
  await page.getByRole("button", { name: "Next job transition" }).click();
  await badge("processing");
  await page.getByRole("button", { name: "Next job transition" }).click();
  await badge("finished");
  await within("#customers", "2 devices");
  step("the job moved to finished after clock advances pressed in the UI");

  await page.getByRole("button", { name: `Outcomes of job ${job}` }).click();
  await within("#job-detail tr.failed", "813");
  await within("#job-detail tr.failed", "ZtdDeviceIsNotUnique");
  step("the failed device shows error code 813 (ZtdDeviceIsNotUnique)");
  // An absent optional element must render as nothing, not as the text "null".
  for (const section of ["#jobs", "#requests"]) {
    const text = await page.locator(section).innerText();
    if (/(^|\n)\s*(null|undefined)\s*(\n|$)/.test(text)) {
      throw new Error(`${section} shows a stray null/undefined: ${JSON.stringify(text.slice(-200))}`);
    }
  }
  step("no stray null or undefined under the jobs and requests tables");

  await page.locator("#customers button", { hasText: "SDKTestDeviceBatch" }).click();
  await within("#devices", "1R9-ZNP67");
  await page.getByLabel("Search serial number, product key or batch id").fill("2r9");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await within("#search-results", "2R9-ZNP67");
  await page.getByLabel("Search serial number, product key or batch id").fill("");
  step("the batch's devices page and the serial-number search work");

  // A refused seed names the entry at fault, and loads nothing.
  expected400 = 1;
  await page.getByLabel("Seed document (JSON)").fill(JSON.stringify({ customers: [{
    id: C2, batches: [{ id: "Bad", devices: [{ modelName: "T7500" }] }] }] }));
  await page.getByRole("button", { name: "Load seed" }).click();
  await within("#seed-msg.error", "customers[0].batches[0].devices[0]");
  for (let i = 0; i < 20 && expected400 > 0; i++) await page.waitForTimeout(100);
  if (expected400 !== 0) problems.push("the refused seed logged no 400");
  step("a refused seed shows the entry it names");

  // A seed pasted into the form.
  await page.getByLabel("Seed document (JSON)").fill(JSON.stringify({ customers: [{
    id: C2,
    policies: [{ id: "15a04610-9229-4e80-94e0-0e826a09c9e2", name: "Kiosk", policySettings: ["skip_eula"] }],
    batches: [{ id: "Lab", devices: [{ serialNumber: "LAB-0001", oemManufacturerName: "Dell Inc.", modelName: "T7500",
      policyId: "15a04610-9229-4e80-94e0-0e826a09c9e2" }] },
    { id: "Bulk", devices: Array.from({ length: 250 }, (_, i) => ({ productKey: `BULK-${String(i).padStart(4, "0")}` })) }],
  }] }));
  await page.getByRole("button", { name: "Load seed" }).click();
  await within("#seed-msg", "Loaded 1 customer, 2 batches, 251 devices, 1 policy.");
  await within("#customers", C2);
  step("a seed document loaded from the form");

  // A batch larger than a page pages like the API, by position.
  await page.locator("#customers button", { hasText: "Bulk" }).click();
  await within("#devices", "positions 1–100 of 250");
  await page.locator("#devices").getByRole("button", { name: "Next" }).click();
  await within("#devices", "positions 101–200 of 250");
  await within("#devices", "BULK-0100");
  await page.locator("#devices").getByRole("button", { name: "Last" }).click();
  await within("#devices", "positions 151–250 of 250");
  await within("#devices", "BULK-0249");
  await within("#customers", "Lab — 1 device");
  await page.locator("#customers button", { hasText: "Lab" }).click();
  await within("#devices", "Kiosk");
  step("a 250-device batch pages by 100; a seeded device shows its profile");

  const [download] = await Promise.all([page.waitForEvent("download", { timeout: TIMEOUT }),
    page.getByRole("button", { name: "Export state (download)" }).click()]);
  const exported = JSON.parse(await (await download.createReadStream()).toArray().then((c) => Buffer.concat(c).toString()));
  if (exported.version !== 2 || exported.customers.length !== 2) problems.push(`export: unexpected document ${JSON.stringify(exported).slice(0, 200)}`);
  step("export downloaded the state document");

  // A fault rule added from the form fires, and the journal marks the request it answered.
  await page.locator("#fr-method").selectOption("GET");
  await page.getByLabel("Path (glob)", { exact: true }).last().fill("/v1/customers/*/deviceBatches");
  await page.locator("#fr-effect").selectOption("status");
  await page.locator("#fr-value").fill("503");
  await page.locator("#fr-times").fill("1");
  await page.getByRole("button", { name: "Add rule" }).click();
  await within("#faults", "/v1/customers/*/deviceBatches");
  res = await pc("GET", `/v1/customers/${C}/deviceBatches`);
  if (res.status !== 503) throw new Error(`the fault rule did not answer: ${res.status}`);
  await within("#requests tr.failed", "503");
  await within("#requests tr.failed .st-fault", "status 503");
  await page.locator("#faults [data-fired]", { hasText: /^1$/ }).waitFor({ timeout: TIMEOUT });
  step("the fault rule from the form fired, marked in the journal");

  // The README's picture: the journal's faulted request in view, so the devices panel closes.
  await page.locator("#devices button", { hasText: /^close$/ }).click();
  await page.locator("#devices-panel").waitFor({ state: "hidden", timeout: TIMEOUT });
  for (const p of await page.evaluate(audit)) problems.push(`desktop accessibility: ${p}`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: `${out}/dashboard-1280x800.png` });
  await page.screenshot({ path: `${out}/dashboard-1280-full.png`, fullPage: true });
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
  const small = await phone.newPage();
  watch(small, "phone");
  await small.goto(base + "/_emulator/ui");
  await small.locator("#customers", { hasText: "SDKTestDeviceBatch" }).waitFor({ timeout: TIMEOUT });
  await small.screenshot({ path: `${out}/dashboard-390-full.png`, fullPage: true });
  for (const p of await small.evaluate(audit)) problems.push(`phone accessibility: ${p}`);
  const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) problems.push(`phone: the page is ${overflow}px wider than a 390px window`);
  await phone.close();

  // A request's body, on demand.
  await page.locator("#requests button", { hasText: /^body$/ }).first().click();
  await within("#requests pre.body", "DummyHash1234");
  step("screenshots taken at 1280x800 and 390px wide");

  // Every job is reachable: the list shows the newest 50 and more on request.
  for (let i = 0; i < 55; i++) {
    res = await pc("POST", `/v1/customers/${C}/deviceBatches`, { batchId: `Many-${i}`, devices: [{ productKey: `M-${i}` }] });
    if (res.status !== 202) throw new Error(`create batch Many-${i}: ${res.status}`);
  }
  await page.getByRole("button", { name: "Show 50 more of 7" }).click();
  await page.locator("#jobs tbody tr").nth(56).waitFor({ timeout: TIMEOUT });
  step("57 jobs: the newest 50 listed, the rest on request");

  // Keyboard: the reset dialog opens, takes focus, and Escape cancels it.
  await page.locator("#reset-all").focus();
  await page.keyboard.press("Enter");
  await page.locator("#confirm[open]").waitFor({ timeout: TIMEOUT });
  await page.keyboard.press("Escape");
  await page.locator("#confirm:not([open])").waitFor({ state: "attached", timeout: TIMEOUT });
  await within("#customers", "SDKTestDeviceBatch");

  await page.getByRole("button", { name: "Reset everything…" }).click();
  await page.locator("#confirm-ok").click();
  await within("#customers", "No customers yet.");
  await within("#jobs", "No jobs yet.");
  await within("#faults", "No fault rules.");
  await within("#requests", "No requests match.");
  await page.screenshot({ path: `${out}/dashboard-after-reset.png` });
  step("a reset confirmed in the dialog emptied the page");

  // A protected control plane (a later --control-token), played by the browser itself: every
  // control-plane call without the token is answered 401. The page must ask for the token, keep
  // it for the tab, and send it on every call from then on.
  const guarded = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  let tokenGiven = false;
  await guarded.route("**/_emulator/**", (route) => {
    const r = route.request();
    const auth = r.headers()["authorization"];
    if (r.url() === base + "/_emulator/ui") return route.continue();
    if (auth !== "Bearer s3cret") {
      if (tokenGiven) problems.push(`token: ${r.method()} ${r.url()} sent without the token`);
      return route.fulfill({ status: 401, contentType: "application/json; charset=utf-8",
        body: JSON.stringify({ code: 800001, description: "A control-plane token is required.", data: [], source: "PartnerFD" }) });
    }
    if (r.method() !== "GET" && r.headers()["content-type"] !== "application/json") {
      problems.push(`token: ${r.method()} ${r.url()} without Content-Type: application/json`);
    }
    return route.continue();
  });
  const locked = await guarded.newPage();
  watch(locked, "token", /status of 401/);
  await locked.goto(base + "/_emulator/ui");
  await locked.getByLabel("Token", { exact: true }).waitFor({ timeout: TIMEOUT });
  await locked.getByLabel("Token", { exact: true }).fill("s3cret");
  tokenGiven = true;
  await locked.getByRole("button", { name: "Use token" }).click();
  await locked.locator("#live", { hasText: "Live" }).waitFor({ timeout: TIMEOUT });
  await locked.getByRole("button", { name: "+1 s" }).click();
  await locked.locator("#clock-now", { hasText: "10:00:04" }).waitFor({ timeout: TIMEOUT });
  const kept = await locked.evaluate(() => sessionStorage.getItem("pce-control-token"));
  if (kept !== "s3cret") problems.push(`token: sessionStorage holds ${kept}`);
  await guarded.close();
  step("on a 401 the page asked for the token and sent it on every call after");
} catch (e) {
  problems.push(`step failed: ${e.message}`);
} finally {
  await browser.close();
}

if (problems.length) {
  console.error("dashboard browser test FAILED:\n  " + problems.join("\n  "));
  console.log("0 passed, 1 failed");
  process.exit(1);
}
console.log(`dashboard browser test passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${out}`);
