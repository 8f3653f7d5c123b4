// The page: sign in, upload with progress, follow the conversion (event stream, long polling
// as the fallback), pay for it when the tenant is paid, download the result.
import {
  $, authHeaders, key, problemOf, problemText, saveBlob, setKey, sleep,
} from "./api.js";
import { liveSource, nextEventFor, startLive, stopLive } from "./live.js";
import {
  copyPayerFields, flagInvalid, forgetPayer, payerBlank, payerOf, rememberPayer, setupPayerFields,
} from "./payer.js";
import { lockReason, paymentSettled, renderPayment, setupPayment } from "./payment.js";

let config = { targets: [], events_url: "/v1/events/stream", sandbox_payments: false };
let current = null;
let tracker = null;

function showError(text) {
  const el = $("error");
  el.textContent = text;
  if (text) el.focus();
}

function showSignedIn(signedIn) {
  $("sign-in").hidden = signedIn;
  $("workspace").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
  if (signedIn) startLive(config.events_url, key(), onStreamEvent);
  else stopLive();
}

async function signIn(event) {
  event.preventDefault();
  const candidate = $("api-key").value.trim();
  $("sign-in-error").textContent = "";
  const response = await fetch("/v1/conversions?limit=10", { headers: { Authorization: "Bearer " + candidate } });
  if (!response.ok) {
    $("sign-in-error").textContent = await problemOf(response);
    $("api-key").focus();
    return;
  }
  setKey(candidate);
  $("api-key").value = "";
  showSignedIn(true);
  renderRecent((await response.json()).items);
  $("upload-title").setAttribute("tabindex", "-1");
  $("upload-title").focus();
}

function signOut() {
  setKey(null);
  current = null;
  tracker = null;
  $("recent").replaceChildren();
  $("status").textContent = "";
  showError("");
  $("download").hidden = true;
  $("download-lock").hidden = true;
  renderPayment(null);
  forgetPayer();
  for (const id of ["payer-form", "upload-form"]) $(id).reset();
  $("upload-payer-fields").dispatchEvent(new Event("input")); // its fields optional again
  chosen(null);
  showPayerProblem("", []);
  $("upload-payer").open = false;
  showSignedIn(false);
  $("api-key").focus();
}

async function loadConfig() {
  const response = await fetch("/web-config.json");
  config = { ...config, ...(await response.json()) };
  for (const target of config.targets) {
    const option = document.createElement("option");
    option.value = target;
    option.textContent = target === "mspdi" ? "mspdi (Microsoft Project XML)" : target;
    $("target").append(option);
  }
}

function chosen(file) {
  $("file-name").textContent = file ? "Chosen: " + file.name + " (" + file.size + " bytes)" : "";
}

// The payer given with the upload, when the person filled it in (a free tenant's is ignored).
function uploadPayer() {
  const fields = $("upload-payer-fields");
  return payerBlank(fields) ? null : payerOf(fields);
}

function showPayerProblem(text, errors) {
  $("upload-payer-error").textContent = text;
  const invalid = flagInvalid($("upload-payer-fields"), errors);
  if (!text) return;
  $("upload-payer").open = true;
  (invalid || $("upload-payer-document")).focus();
}

function upload(event) {
  event.preventDefault();
  const file = $("file").files[0];
  if (!file) { showError("Choose a schedule file first."); return; }
  const payer = uploadPayer();
  showError("");
  showPayerProblem("", []);
  $("download").hidden = true;
  $("download-lock").hidden = true;
  const form = new FormData();
  form.append("target", $("target").value);
  if ($("password").value) form.append("password", $("password").value);
  form.append("timephased", $("timephased").checked ? "true" : "false");
  if (payer) form.append("payer", JSON.stringify(payer));
  form.append("file", file);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/v1/conversions");
  xhr.setRequestHeader("Authorization", "Bearer " + key());
  $("progress-box").hidden = false;
  $("convert").disabled = true;
  setProgress(0, file.size);
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) setProgress(e.loaded, e.total); };
  xhr.onerror = () => { $("convert").disabled = false; showError("The upload failed: the network or the service is unreachable."); };
  xhr.onload = () => {
    $("convert").disabled = false;
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch (_) { body = null; }
    if (xhr.status >= 400) {
      const text = problemText(xhr.status, body, xhr.getResponseHeader("Retry-After"));
      // the file stays chosen: the person corrects the payer and sends again
      if (body && body.code === "invalid_payer") showPayerProblem(text, body.errors);
      else showError(text);
      return;
    }
    if (payer) rememberPayer(payer);
    setProgress(file.size, file.size);
    track(body);
  };
  xhr.send(form);
}

function setProgress(loaded, total) {
  const percent = total ? Math.round((loaded / total) * 100) : 100;
  $("progress").value = percent;
  $("progress-text").textContent = "Uploaded " + loaded + " of " + total + " bytes (" + percent + " %)";
}

function showJob(job) {
  current = job;
  let text = "Conversion " + job.id + ": " + job.status;
  if (job.status === "failed" && job.error) text += " (" + job.error.code + "): " + job.error.message;
  $("status").textContent = text;
  $("status").dataset.state = job.status;
  const completed = job.status === "completed";
  const lock = completed ? lockReason(job) : "";
  $("download").hidden = !completed;
  $("download").disabled = Boolean(lock);
  $("download-lock").hidden = !lock;
  $("download-lock").textContent = lock;
  renderPayment(job);
}

function settled(job) {
  return job.status === "failed" || (job.status === "completed" && paymentSettled(job));
}

// Follows one job until nothing more changes by itself: on each stream event about it (or
// every 30 s, in case one was missed) one read; long polling while the stream is not live.
async function track(job) {
  const mine = Symbol(job.id);
  tracker = mine;
  showJob(job);
  let etag = null;
  while (key() && tracker === mine && !settled(current)) {
    const streaming = liveSource() === "stream";
    if (streaming) await nextEventFor(job.id, 30000);
    if (tracker !== mine) return;
    const headers = authHeaders();
    if (etag) headers["If-None-Match"] = etag;
    const url = "/v1/conversions/" + job.id + (streaming ? "" : "?wait=30");
    let response;
    try {
      response = await fetch(url, { headers });
    } catch (_) {
      $("status").textContent = "Connection lost; retrying…";
      await sleep(2000);
      continue;
    }
    if (tracker !== mine) return;
    if (response.status === 304) continue;
    if (!response.ok) { showError(await problemOf(response)); return; }
    etag = response.headers.get("ETag");
    showJob(await response.json());
  }
  if (tracker === mine) refreshRecent();
}

let recentSoon = null;

function onStreamEvent(event) {
  // the recent list follows every job of the tenant, a second after its last event
  clearTimeout(recentSoon);
  if (/^(conversion|payment|charge)\./.test(event.type || "")) recentSoon = setTimeout(refreshRecent, 1000);
}

async function download(job) {
  showError("");
  const response = await fetch("/v1/conversions/" + job.id + "/result", { headers: authHeaders() });
  if (!response.ok) { showError(await problemOf(response)); return; }
  const saved = await saveBlob(response, job.id);
  $("status").textContent = "Downloaded " + saved.name + " (" + saved.size + " bytes).";
}

async function refreshRecent() {
  if (!key()) return;
  const response = await fetch("/v1/conversions?limit=20", { headers: authHeaders() });
  if (!response.ok) { showError(await problemOf(response)); return; }
  renderRecent((await response.json()).items);
}

function actionOf(job) {
  if (job.status !== "completed") return null;
  const button = document.createElement("button");
  button.type = "button";
  const locked = Boolean(lockReason(job));
  button.textContent = locked ? "Payment" : "Download";
  button.setAttribute("aria-label", (locked ? "The payment of " : "Download the result of ") + job.source.filename);
  button.addEventListener("click", () => (locked ? track(job) : download(job)));
  return button;
}

function renderRecent(items) {
  const rows = items.map((job) => {
    const row = document.createElement("tr");
    row.dataset.id = job.id;
    const state = job.payment && job.payment.status !== "paid" ? job.status + ", payment " + job.payment.status : job.status;
    for (const text of [job.source.filename, job.target, state]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    const action = document.createElement("td");
    const button = actionOf(job);
    if (button) action.append(button);
    row.append(action);
    return row;
  });
  $("recent").replaceChildren(...rows);
}

function dropZone() {
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files.length) {
      $("file").files = e.dataTransfer.files;
      chosen($("file").files[0]);
    }
  });
  $("file").addEventListener("change", () => chosen($("file").files[0]));
}

async function start() {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("upload-form").addEventListener("submit", upload);
  $("download").addEventListener("click", () => current && download(current));
  $("refresh").addEventListener("click", refreshRecent);
  dropZone();
  const payerFields = copyPayerFields($("payer-fields"), "upload-");
  $("upload-payer-error").before(payerFields);
  setupPayerFields(payerFields, "upload-payer-error");
  // a half-filled payer stops the upload: show its fields, even when folded away
  payerFields.addEventListener("invalid", () => { $("upload-payer").open = true; }, true);
  await loadConfig();
  setupPayment(config, track);
  showSignedIn(Boolean(key()));
  if (key()) refreshRecent();
  document.body.dataset.ready = "true";
}

// a module runs after the document is parsed, like a deferred script
start();
