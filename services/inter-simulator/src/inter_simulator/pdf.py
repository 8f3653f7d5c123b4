"""A small, valid PDF 1.4 of a boleto, written by hand: one page of Helvetica text."""

import textwrap

from inter_simulator.render import amount_text
from inter_simulator.store import Charge

_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
_PAGE = (
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
    b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
)


def boleto_pdf(charge: Charge) -> bytes:
    return render_pdf(boleto_lines(charge))


def boleto_lines(charge: Charge) -> list[str]:
    request, numbers = charge.request, charge.numbers
    assert numbers is not None, "a PDF exists only once the charge is issued"
    lines = [
        "Banco Inter S.A. - 077 - Boleto de cobranca (simulador)",
        f"Beneficiario: SIMULADOR INTER   Seu numero: {request.seu_numero}",
    ]
    if final := request.beneficiario_final:
        lines.append(f"Beneficiario final: {final.nome} ({final.cpf_cnpj})")
    lines += [
        f"Pagador: {request.pagador.nome} ({request.pagador.cpf_cnpj})",
        f"Vencimento: {request.data_vencimento.isoformat()}   "
        f"Valor: R$ {amount_text(request.valor_nominal)}",
        f"Nosso numero: {numbers.nosso_numero}",
        f"Linha digitavel: {numbers.linha_digitavel}",
        f"Codigo de barras: {numbers.codigo_barras}",
    ]
    if request.with_pix:
        lines += ["Pix copia e cola:", *textwrap.wrap(numbers.pix_copia_e_cola, 80)]
    return lines


def render_pdf(lines: list[str]) -> bytes:
    content = _text_stream(lines)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        _PAGE,
        _FONT,
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF" % xref_at
    return bytes(out)


def _text_stream(lines: list[str]) -> bytes:
    shown = b" Tj T*\n".join(b"(%s)" % _pdf_string(line) for line in lines)
    return b"BT\n/F1 10 Tf\n14 TL\n40 800 Td\n" + shown + b" Tj\nET"


def _pdf_string(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
