// The payer's fields, written once in the page (the payment's payer form) and copied into the
// upload form, where a paid tenant may give the payer with the file. One function turns
// either set into the payer JSON in the bank's field names. The last payer the API took is
// kept for this tab only (sessionStorage), to prefill the payer form; signing out forgets it.
const KEY = "conversions.payer";
const TEXT_FIELDS = ["cpfCnpj", "nome", "endereco", "cidade", "uf", "cep", "email"];

const field = (fields, name) => fields.elements.namedItem(name);

// `fields`: a <form> or <fieldset> holding the payer's controls, named as the bank names them.
export function payerOf(fields) {
  const value = (name) => field(fields, name).value.trim();
  const payer = {
    cpfCnpj: value("cpfCnpj").replace(/\D/g, ""),
    tipoPessoa: value("tipoPessoa"),
    nome: value("nome"),
    endereco: value("endereco"),
    cidade: value("cidade"),
    uf: value("uf").toUpperCase(),
    cep: value("cep").replace(/\D/g, ""),
  };
  if (value("email")) payer.email = value("email");
  return payer;
}

export function payerBlank(fields) {
  return TEXT_FIELDS.every((name) => !field(fields, name).value.trim());
}

// Every payer control described by the element that shows the API's refusal, and the kind of
// person following the document's length (a CNPJ has 14 digits, a CPF 11).
export function setupPayerFields(fields, errorId) {
  for (const control of fields.querySelectorAll("input, select")) {
    control.setAttribute("aria-describedby", errorId);
  }
  field(fields, "cpfCnpj").addEventListener("input", () => {
    const digits = field(fields, "cpfCnpj").value.replace(/\D/g, "");
    field(fields, "tipoPessoa").value = digits.length > 11 ? "JURIDICA" : "FISICA";
  });
}

// A copy of `source` whose ids (and the labels naming them) start with `prefix`. Its fields
// are optional until one is filled: an empty copy must not stop the form it sits in.
export function copyPayerFields(source, prefix) {
  const copy = source.cloneNode(true);
  copy.id = prefix + source.id;
  for (const element of copy.querySelectorAll("[id]")) element.id = prefix + element.id;
  for (const label of copy.querySelectorAll("label[for]")) label.htmlFor = prefix + label.htmlFor;
  const needed = [...copy.querySelectorAll("[required]")];
  for (const control of needed) control.required = false;
  copy.addEventListener("input", () => {
    const filled = !payerBlank(copy);
    for (const control of needed) control.required = filled;
  });
  return copy;
}

// The control an `invalid_payer` error is about: its field, or for a check across fields
// (field "payer") the field its message starts with ("cpfCnpj is not a valid CPF").
function controlOf(fields, error) {
  const named = String(error.field || "").split(".").pop();
  const leading = (/^\w+/.exec(String(error.msg || "")) || [""])[0];
  return [named, leading].map((name) => name && field(fields, name)).find(Boolean) || null;
}

// The fields the API's `invalid_payer` names marked invalid; the first one is returned.
export function flagInvalid(fields, errors) {
  let first = null;
  for (const control of fields.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  for (const error of errors || []) {
    const control = controlOf(fields, error);
    if (!control) continue;
    control.setAttribute("aria-invalid", "true");
    first = first || control;
  }
  return first;
}

export function rememberPayer(payer) { sessionStorage.setItem(KEY, JSON.stringify(payer)); }

export function forgetPayer() { sessionStorage.removeItem(KEY); }

export function prefillPayer(fields) {
  let payer = null;
  try { payer = JSON.parse(sessionStorage.getItem(KEY)); } catch (_) { payer = null; }
  if (!payer || !payerBlank(fields)) return;
  for (const [name, value] of Object.entries(payer)) {
    const control = field(fields, name);
    if (control) control.value = value;
  }
}
