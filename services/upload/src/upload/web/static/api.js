// What every part of the page shares: the key, the API's problems in words, saving a blob.
// The key lives in sessionStorage: it survives a reload but not closing the tab, so a
// shared computer does not keep it; it never goes into a URL.
const KEY = "conversions.apiKey";

export const $ = (id) => document.getElementById(id);

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
  payment_required: "This conversion is paid: the result unlocks once its charge is paid.",
  invalid_payer: "The payer's details are not valid: correct them and send them again.",
  payer_locked: "The payer can no longer change: the charge is already issued in their name.",
  payment_not_required: "This conversion is free: it needs no payer.",
  payment_not_ready: "The charge is still being issued: try again in a moment.",
  bank_unavailable: "The bank cannot be reached right now: try again in a few minutes.",
  stream_limit_reached: "Too many live connections for this key: the page polls instead.",
};

let apiKey = sessionStorage.getItem(KEY);

export function key() { return apiKey; }

export function setKey(value) {
  apiKey = value;
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

export function authHeaders() { return { Authorization: "Bearer " + apiKey }; }

export function problemText(status, body, retryAfter) {
  const code = (body && body.code) || "http_" + status;
  const parts = [];
  if (body && body.detail) parts.push(body.detail + ".");
  parts.push(HINTS[code] || (status >= 500 ? "The service failed: try again later." : ""));
  if (retryAfter) parts.push("Try again in " + retryAfter + " s.");
  if (body && body.trace_id) parts.push("Trace id: " + body.trace_id + ".");
  return "Error " + status + " (" + code + "): " + parts.filter(Boolean).join(" ");
}

export async function problemOf(response) {
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  return problemText(response.status, body, response.headers.get("Retry-After"));
}

// A response fetched with the key, saved as a file: a plain link cannot send the header.
export async function saveBlob(response, fallbackName) {
  const blob = await response.blob();
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/.exec(disposition);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = match ? match[1] : fallbackName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  return { name: link.download, size: blob.size };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
