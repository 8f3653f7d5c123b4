// The live source of job changes: the notifier's event stream, read with fetch() because
// EventSource cannot send the Authorization header; long polling whenever it is unavailable
// (unreachable, refused by CORS, 404, cut), retried with a growing pause.
import { $, sleep } from "./api.js";

let source = "off";
let controller = null;
let lastEventId = null;
let sendLastId = true;
let onEvent = () => {};
const pending = new Set(); // jobs with an event no tracker has read yet
const waiters = new Set();

export function liveSource() { return source; }

function setSource(value, why) {
  source = value;
  const line = $("live");
  line.dataset.live = value;
  line.textContent = value === "stream" ? "Live updates: event stream."
    : value === "polling" ? "Live updates: polling (" + why + ")." : "";
  for (const waiter of [...waiters]) waiter.wake(); // trackers waiting on the stream poll now
}

function notify(jobId) {
  pending.add(jobId);
  for (const waiter of [...waiters]) if (waiter.jobId === jobId) waiter.wake();
}

// Resolves on an event about the job, when the stream stops, or after ms (a safety re-read).
export function nextEventFor(jobId, ms) {
  if (pending.delete(jobId)) return Promise.resolve();
  return new Promise((resolve) => {
    const waiter = {
      jobId,
      wake() { clearTimeout(timer); waiters.delete(waiter); pending.delete(jobId); resolve(); },
    };
    const timer = setTimeout(() => waiter.wake(), ms);
    waiters.add(waiter);
  });
}

export async function startLive(url, apiKey, handler) {
  stopLive();
  onEvent = handler;
  const mine = new AbortController();
  controller = mine;
  let pause = 1000;
  while (controller === mine) {
    const opened = Date.now();
    const why = await connect(url, apiKey, mine.signal);
    if (controller !== mine) return;
    setSource("polling", why);
    if (Date.now() - opened > 60000) pause = 1000; // it had been up a while: a plain cut
    await sleep(pause);
    pause = Math.min(pause * 2, 60000);
  }
}

export function stopLive() {
  if (controller) controller.abort();
  controller = null;
  lastEventId = null;
  pending.clear();
  setSource("off");
}

async function connect(url, apiKey, signal) {
  const headers = { Authorization: "Bearer " + apiKey, Accept: "text/event-stream" };
  if (lastEventId && sendLastId) headers["Last-Event-ID"] = lastEventId;
  let response;
  try {
    response = await fetch(url, { headers, signal, cache: "no-store" });
  } catch (_) {
    if (headers["Last-Event-ID"]) sendLastId = false; // a CORS policy may refuse that header
    return "the event stream is unreachable";
  }
  const type = response.headers.get("Content-Type") || "";
  if (!response.ok || !type.startsWith("text/event-stream")) {
    if (response.body) response.body.cancel().catch(() => {});
    return "the event stream answered " + response.status;
  }
  setSource("stream");
  try { await read(response.body); } catch (_) { /* cut or aborted */ }
  return "the event stream closed";
}

async function read(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      dispatch(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
}

// One SSE frame: "id:" and "data:" lines matter, comments (heartbeats) and the rest do not.
function dispatch(frame) {
  const data = [];
  for (const line of frame.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") data.push(value);
    else if (field === "id") lastEventId = value;
  }
  if (!data.length) return;
  let event;
  try { event = JSON.parse(data.join("\n")); } catch (_) { return; }
  const jobId = event && event.data && event.data.job_id;
  if (jobId) notify(jobId);
  onEvent(event);
}
