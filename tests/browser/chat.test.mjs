// Browser test of broadcaster-chat: starts the server on a free loopback
// port, opens two pages in Debian's headless Chromium and checks that a
// line typed in either page shows up in both.
//
// Environment: BROADCASTER_CHAT_BINARY (required), BROADCASTER_CHROMIUM
// (default /usr/bin/chromium), BROADCASTER_TEST_TIMEOUT_SCALE (default 1),
// BROADCASTER_CHAT_SCREENSHOT (optional PNG path for a picture of a page).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { chromium } from "playwright-core";

const binary = process.env.BROADCASTER_CHAT_BINARY;
const chromiumPath = process.env.BROADCASTER_CHROMIUM || "/usr/bin/chromium";
const scale = Math.max(1, Number(process.env.BROADCASTER_TEST_TIMEOUT_SCALE
                                 || 1));
const deadline = 30000 * scale;

let server = null;
let context = null;
let userDataDir = null;
const pageErrors = [];

// Starts broadcaster-chat with --port=0 and resolves with the URL that it
// prints once it listens.
function startServer() {
  const child = spawn(binary, ["--host=127.0.0.1", "--port=0",
                               "--backend=memory://"],
                      { stdio: ["ignore", "pipe", "pipe"] });
  const log = [];
  readline.createInterface({ input: child.stderr })
    .on("line", (line) => log.push(line));
  const exited = new Promise((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  const listening = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`no listening line within ${deadline} ms; log:\n` +
                       log.join("\n")));
    }, deadline);
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      const match = /listening on (http:\/\/\S+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`broadcaster-chat exited early (code ${code}, ` +
                       `signal ${signal}); log:\n${log.join("\n")}`));
    });
  });
  return listening.then((url) => ({ child, url, log, exited }));
}

async function openPage(url) {
  const page = await context.newPage();
  page.on("pageerror", (err) => pageErrors.push(`page error: ${err}`));
  page.on("console", (message) => {
    if (message.type() === "error") {
      pageErrors.push(`console error: ${message.text()}`);
    }
  });
  await page.goto(url);
  await page.locator('#status[data-state="connected"]')
    .waitFor({ timeout: deadline });
  return page;
}

// Waits until `page` shows `count` chat lines and returns their texts.
async function linesOf(page, count) {
  await page.waitForFunction(
    (n) => document.querySelectorAll("#messages li.message").length >= n,
    count, { timeout: deadline });
  return page.locator("#messages li.message .text").allTextContents();
}

before(async () => {
  assert.ok(binary, "BROADCASTER_CHAT_BINARY is not set");
  server = await startServer();
  userDataDir = await mkdtemp(path.join(tmpdir(), "chat-browser-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    timeout: deadline,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  if (context) {
    await context.close();
  }
  if (userDataDir) {
    await rm(userDataDir, { recursive: true, force: true });
  }
  if (server) {
    server.child.kill("SIGTERM");
    const { code } = await server.exited;
    assert.equal(code, 0, "broadcaster-chat did not exit cleanly; log:\n" +
                 server.log.join("\n"));
    assert.ok(server.log.some((line) => line.includes("chat server stopped")),
              "no stop line in the log:\n" + server.log.join("\n"));
  }
});

test("two pages see each other's lines", { timeout: 4 * deadline },
     async () => {
  const first = await openPage(server.url);
  const second = await openPage(server.url);

  await first.fill("#line", "hello from the first page");
  await first.press("#line", "Enter");
  assert.deepEqual(await linesOf(first, 1), ["hello from the first page"]);
  assert.deepEqual(await linesOf(second, 1), ["hello from the first page"]);
  assert.equal(await first.inputValue("#line"), "");

  await second.fill("#line", "reply from the second page");
  await second.click("#send");
  const expected = ["hello from the first page", "reply from the second page"];
  assert.deepEqual(await linesOf(first, 2), expected);
  assert.deepEqual(await linesOf(second, 2), expected);

  if (process.env.BROADCASTER_CHAT_SCREENSHOT) {
    await first.screenshot({ path: process.env.BROADCASTER_CHAT_SCREENSHOT });
  }
  await first.close();
  await second.close();
  assert.deepEqual(pageErrors, []);
});

test("page blocks lines over the size limit", { timeout: 2 * deadline },
     async () => {
  const page = await openPage(server.url);
  await page.fill("#line", "x".repeat(4097));
  assert.equal(await page.isDisabled("#send"), true);
  const hint = await page.textContent("#hint");
  assert.match(hint, /4097 bytes; the maximum is 4096/);
  await page.fill("#line", "x".repeat(4096));
  assert.equal(await page.isDisabled("#send"), false);
  assert.equal(await page.textContent("#hint"), "");
  await page.close();
  assert.deepEqual(pageErrors, []);
});
