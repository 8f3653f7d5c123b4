"use strict";
// The key lives in sessionStorage: it survives a reload but not closing the tab, so a
// shared computer does not keep it; it never goes into a URL.
const KEY = "conversions.apiKey";
const $ = (id) => document.getElementById(id);

const HINTS = {
  unauthorized: "The API key is missing, wrong or revoked: sign in again with a valid key.",
  forbidden: "This key may not do that.",
  not_found: "No such conversion for this key (it may have expired).",
  not_ready: "The conversion has not finished yet.",
  result_expired: "The result is no longer kept: convert the file again.",
  too_large: "The file is larger than the service accepts.",
  field_too_large: "An option is too long.",
  too_many_parts: "The form has too many parts.",
  unsupported_media_type: "The upload was not sent as a form.",
  unsupported_format: "This file is not a schedule the service can read (Microsoft Project, Primavera, ...).",
  malformed_request: "The upload arrived broken: try again.",
  validation_error: "An option is not valid.",
  unknown_field: "The form carried a field the API does not know.",
  duplicate_field: "The form carried a field twice.",
  idempotency_key_reused: "This upload was already made with another file.",
  too_many_uploads: "Too many uploads at once for this key.",
  too_many_jobs: "Too many conversions waiting for this key.",
  server_busy: "The service is busy.",
  rate_limited: "Too many requests for this key.",
  invalid_cursor: "The list position is not valid: refresh.",
  password_required: "The file is protected: give its password.",
  wrong_password: "The password does not open the file.",
};

let apiKey = sessionStorage.getItem(KEY);
let current = null;

function authHeaders() { return { Authorization: "Bearer " + apiKey }; }

function problemText(status, body, retryAfter) {
  const code = (body && body.code) || "http_" + status;
  const parts = [];
  if (body && body.detail) parts.push(body.detail + ".");
  parts.push(HINTS[code] || (status >= 500 ? "The service failed: try again later." : ""));
  if (retryAfter) parts.push("Try again in " + retryAfter + " s.");
  if (body && body.trace_id) parts.push("Trace id: " + body.trace_id + ".");
  return "Error " + status + " (" + code + "): " + parts.filter(Boolean).join(" ");
}

async function problemOf(response) {
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  return problemText(response.status, body, response.headers.get("Retry-After"));
}

function showError(text) {
  const el = $("error");
  el.textContent = text;
  if (text) el.focus();
}

function showSignedIn(signedIn) {
  $("sign-in").hidden = signedIn;
  $("workspace").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
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
  apiKey = candidate;
  sessionStorage.setItem(KEY, apiKey);
  $("api-key").value = "";
  showSignedIn(true);
  renderRecent((await response.json()).items);
  $("upload-title").setAttribute("tabindex", "-1");
  $("upload-title").focus();
}

function signOut() {
  sessionStorage.removeItem(KEY);
  apiKey = null;
  current = null;
  $("recent").replaceChildren();
  $("status").textContent = "";
  showError("");
  $("download").hidden = true;
  showSignedIn(false);
  $("api-key").focus();
}

async function loadTargets() {
  const response = await fetch("/web-config.json");
  const config = await response.json();
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

function upload(event) {
  event.preventDefault();
  const file = $("file").files[0];
  if (!file) { showError("Choose a schedule file first."); return; }
  showError("");
  $("download").hidden = true;
  const form = new FormData();
  form.append("target", $("target").value);
  if ($("password").value) form.append("password", $("password").value);
  form.append("timephased", $("timephased").checked ? "true" : "false");
  form.append("file", file);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/v1/conversions");
  xhr.setRequestHeader("Authorization", "Bearer " + apiKey);
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
      showError(problemText(xhr.status, body, xhr.getResponseHeader("Retry-After")));
      return;
    }
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
  $("download").hidden = job.status !== "completed";
}

// Long polling: each request waits up to 30 s for the job to differ from the version seen.
async function track(job) {
  showJob(job);
  let etag = null;
  while (apiKey && current && current.id === job.id && !["completed", "failed"].includes(current.status)) {
    const headers = authHeaders();
    if (etag) headers["If-None-Match"] = etag;
    let response;
    try {
      response = await fetch("/v1/conversions/" + job.id + "?wait=30", { headers });
    } catch (_) {
      $("status").textContent = "Connection lost; retrying…";
      await new Promise((resolve) => setTimeout(resolve, 2000));
      continue;
    }
    if (response.status === 304) continue;
    if (!response.ok) { showError(await problemOf(response)); return; }
    etag = response.headers.get("ETag");
    showJob(await response.json());
  }
  refreshRecent();
}

async function download(job) {
  showError("");
  const response = await fetch("/v1/conversions/" + job.id + "/result", { headers: authHeaders() });
  if (!response.ok) { showError(await problemOf(response)); return; }
  const blob = await response.blob();
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/.exec(disposition);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = match ? match[1] : job.id;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  $("status").textContent = "Downloaded " + link.download + " (" + blob.size + " bytes).";
}

async function refreshRecent() {
  if (!apiKey) return;
  const response = await fetch("/v1/conversions?limit=20", { headers: authHeaders() });
  if (!response.ok) { showError(await problemOf(response)); return; }
  renderRecent((await response.json()).items);
}

function renderRecent(items) {
  const rows = items.map((job) => {
    const row = document.createElement("tr");
    row.dataset.id = job.id;
    for (const text of [job.source.filename, job.target, job.status]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    const action = document.createElement("td");
    if (job.status === "completed") {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Download";
      button.setAttribute("aria-label", "Download the result of " + job.source.filename);
      button.addEventListener("click", () => download(job));
      action.append(button);
    }
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

document.addEventListener("DOMContentLoaded", async () => {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("upload-form").addEventListener("submit", upload);
  $("download").addEventListener("click", () => current && download(current));
  $("refresh").addEventListener("click", refreshRecent);
  dropZone();
  await loadTargets();
  showSignedIn(Boolean(apiKey));
  if (apiKey) refreshRecent();
  document.body.dataset.ready = "true";
});
