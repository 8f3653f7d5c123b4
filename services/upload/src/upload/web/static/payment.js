// The payment step of a paid tenant's conversion: the payer's details, then the charge (Pix QR
// code, copia e cola, boleto) until it is paid, and the download's lock with its reason.
import { $, authHeaders, problemOf, saveBlob } from "./api.js";
import { flagInvalid, payerOf, prefillPayer, rememberPayer, setupPayerFields } from "./payer.js";

const SETTLED = ["paid", "expired", "cancelled", "failed"];
const LOCKS = {
  pending: "Locked: the result unlocks by itself once the payment arrives.",
  expired: "Locked: the charge expired unpaid.",
  cancelled: "Locked: the charge was cancelled.",
  failed: "Locked: the charge could not be issued.",
};

let config = { sandbox_payments: false };
let shown = { job: null, pixQr: null, qrUrl: null };
let onPayer = () => {};

// A job whose payment nothing more will change without the person (failed asks a new payer).
export function paymentSettled(job) { return !job.payment || SETTLED.includes(job.payment.status); }

export function lockReason(job) {
  return job.payment && job.payment.status !== "paid" ? LOCKS[job.payment.status] || LOCKS.pending : "";
}

export function money(cents, currency) {
  return new Intl.NumberFormat("pt-BR", { style: "currency", currency: currency || "BRL" })
    .format(cents / 100);
}

function day(isoDate) {
  const [y, m, d] = String(isoDate || "").slice(0, 10).split("-");
  return d ? d + "/" + m + "/" + y : "";
}

function stateOf(payment) {
  if (payment.status !== "pending") return payment.status;
  if (payment.payer_required) return "payer_required";
  return payment.boleto_pdf || payment.pix_qr ? "pending" : "preparing";
}

function stateText(payment, state) {
  const amount = money(payment.amount_cents, payment.currency);
  const error = payment.error ? " " + payment.error.message + " (" + payment.error.code + ")." : "";
  return {
    payer_required: "This conversion costs " + amount + ". Give the payer's details to issue the charge.",
    preparing: "Preparing your charge of " + amount + "…",
    pending: "Waiting for the payment of " + amount + ", due " + day(payment.due_date)
      + ". Pay with Pix or the boleto: the download unlocks by itself.",
    paid: "Paid " + amount + (payment.paid_at ? " on " + new Date(payment.paid_at).toLocaleString("pt-BR") : "")
      + ". The download is unlocked.",
    expired: "The charge of " + amount + " expired on " + day(payment.due_date)
      + " before it was paid. Convert the file again for a new charge.",
    cancelled: "The charge of " + amount + " was cancelled. Convert the file again for a new charge.",
    failed: "The charge could not be issued." + error + " Check the payer's details and send them again.",
  }[state] || "Payment: " + state + ".";
}

export function setupPayment(pageConfig, payerGiven) {
  config = pageConfig;
  onPayer = payerGiven;
  $("payer-form").addEventListener("submit", submitPayer);
  setupPayerFields($("payer-fields"), "payment-error");
  $("copy-pix").addEventListener("click", copyPix);
  $("boleto-link").addEventListener("click", downloadBoleto);
  $("simulate").addEventListener("click", simulate);
}

export function renderPayment(job) {
  const payment = job && job.payment;
  $("payment").hidden = !payment;
  if (!shown.job || !job || shown.job.id !== job.id) resetShown();
  shown.job = job;
  if (!payment) return;
  const state = stateOf(payment);
  const before = $("payment").dataset.state;
  $("payment").dataset.state = state;
  const asksPayer = ["payer_required", "failed"].includes(state);
  if (before !== state) {
    $("payment-state").textContent = stateText(payment, state);
    if (asksPayer) prefillPayer($("payer-fields"));
  }
  $("payer-form").hidden = !asksPayer;
  $("charge").hidden = state !== "pending";
  $("simulate").hidden = !(config.sandbox_payments && state === "pending");
  if (state === "pending") renderCharge(job, payment);
}

function resetShown() {
  if (shown.qrUrl) URL.revokeObjectURL(shown.qrUrl);
  shown = { job: null, pixQr: null, qrUrl: null };
  $("pix-qr").hidden = true;
  $("pix-qr").removeAttribute("src");
  for (const id of ["copy-status", "boleto-status", "payment-error", "payment-state"]) {
    $(id).textContent = "";
  }
  delete $("payment").dataset.state;
  $("simulate").disabled = false;
}

function renderCharge(job, payment) {
  $("charge-amount").textContent = money(payment.amount_cents, payment.currency);
  $("charge-due").textContent = day(payment.due_date);
  $("pix-code").value = payment.pix_copia_e_cola || "";
  $("boleto-line").value = payment.linha_digitavel || "";
  $("boleto-link").hidden = !payment.boleto_pdf;
  if (payment.boleto_pdf) $("boleto-link").href = payment.boleto_pdf;
  if (payment.pix_qr && payment.pix_qr !== shown.pixQr) loadQr(payment.pix_qr, payment);
}

// An <img src> cannot send the key: the QR code comes through fetch, as an object URL.
async function loadQr(url, payment) {
  shown.pixQr = url;
  const response = await fetch(url, { headers: authHeaders() });
  if (shown.pixQr !== url) return;
  if (!response.ok) {
    shown.pixQr = null; // the next render tries again
    $("payment-error").textContent = await problemOf(response);
    return;
  }
  const blob = await response.blob();
  if (shown.qrUrl) URL.revokeObjectURL(shown.qrUrl);
  shown.qrUrl = URL.createObjectURL(blob);
  const image = $("pix-qr");
  image.alt = "Pix QR code to pay " + money(payment.amount_cents, payment.currency);
  image.src = shown.qrUrl;
  image.hidden = false;
}

async function copyPix() {
  const text = $("pix-code").value;
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch (_) {
    $("pix-code").focus();
    $("pix-code").select();
    try { copied = document.execCommand("copy"); } catch (_) { copied = false; }
  }
  $("copy-status").textContent = copied ? "Copied." : "Could not copy: the code is selected, copy it with the keyboard.";
}

async function downloadBoleto(event) {
  event.preventDefault();
  $("payment-error").textContent = "";
  const response = await fetch($("boleto-link").getAttribute("href"), { headers: authHeaders() });
  if (!response.ok) { $("payment-error").textContent = await problemOf(response); return; }
  const saved = await saveBlob(response, "boleto-" + shown.job.id + ".pdf");
  $("boleto-status").textContent = "Saved as " + saved.name + ".";
}

async function simulate() {
  $("payment-error").textContent = "";
  $("simulate").disabled = true;
  const url = "/v1/conversions/" + shown.job.id + "/payment/simulate";
  const response = await fetch(url, { method: "POST", headers: authHeaders() });
  if (!response.ok) {
    $("simulate").disabled = false;
    $("payment-error").textContent = await problemOf(response);
    return;
  }
  $("payment-state").textContent = "Payment simulated: waiting for the bank's confirmation…";
}

async function submitPayer(event) {
  event.preventDefault();
  const job = shown.job;
  $("payment-error").textContent = "";
  $("payer-submit").disabled = true;
  const payer = payerOf($("payer-fields"));
  let response;
  try {
    response = await fetch("/v1/conversions/" + job.id + "/payer", {
      method: "PUT",
      headers: { ...authHeaders(), "Content-Type": "application/json" },
      body: JSON.stringify(payer),
    });
  } catch (_) {
    $("payment-error").textContent = "The service is unreachable: send the details again.";
    return;
  } finally {
    $("payer-submit").disabled = false;
  }
  if (!response.ok) {
    const problem = await response.clone().json().catch(() => null);
    $("payment-error").textContent = await problemOf(response);
    (flagInvalid($("payer-fields"), problem && problem.errors) || $("payer-document")).focus();
    return;
  }
  flagInvalid($("payer-fields"), []);
  rememberPayer(payer);
  $("payer-form").hidden = true;
  $("payment").dataset.state = "preparing";
  $("payment-state").textContent = stateText(job.payment, "preparing");
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  // followed again from here: a failed charge given a new payer is pending once more
  const pending = { ...job.payment, status: "pending", payer_required: false, error: null };
  onPayer(body && body.id === job.id ? body : { ...job, payment: pending });
}
