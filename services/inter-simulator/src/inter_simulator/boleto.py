"""The numbers a charge gets once issued: nosso número, barcode, linha digitável, Pix code."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

BANK = "077"
CURRENCY = "9"
AGENCY, WALLET, ACCOUNT = "0001", "112", "1234567"
_FACTOR_BASE = date(1997, 10, 7)
PIX_HOST = "pix.inter-simulator.local/qr/v2/cobv"


@dataclass(frozen=True)
class IssuedNumbers:
    nosso_numero: str
    codigo_barras: str
    linha_digitavel: str
    txid: str
    pix_copia_e_cola: str


def issue_numbers(
    sequence: int, amount: Decimal, due: date, txid: str, beneficiary: str
) -> IssuedNumbers:
    nosso_numero = f"{sequence:011d}"
    barcode = barcode_for(nosso_numero, amount, due)
    return IssuedNumbers(
        nosso_numero,
        barcode,
        linha_digitavel(barcode),
        txid,
        pix_copia_e_cola(txid, amount, beneficiary),
    )


def due_factor(due: date) -> int:
    """FEBRABAN's factor: days since 1997-10-07, restarting at 1000 after 9999 (2025-02-22)."""
    days = (due - _FACTOR_BASE).days
    return days if days < 10000 else (days - 1000) % 9000 + 1000


def barcode_for(nosso_numero: str, amount: Decimal, due: date) -> str:
    free_field = AGENCY + WALLET + ACCOUNT + nosso_numero
    cents = int((amount * 100).to_integral_value())
    body = f"{BANK}{CURRENCY}{due_factor(due):04d}{cents:010d}{free_field}"
    return body[:4] + str(_mod11(body)) + body[4:]


def linha_digitavel(barcode: str) -> str:
    free_field = barcode[19:]
    fields = [barcode[:4] + free_field[:5], free_field[5:15], free_field[15:]]
    checked = "".join(field + str(_mod10(field)) for field in fields)
    return checked + barcode[4] + barcode[5:19]


def pix_copia_e_cola(txid: str, amount: Decimal, beneficiary: str) -> str:
    account = _emv("00", "br.gov.bcb.pix") + _emv("25", f"{PIX_HOST}/{txid}")
    payload = (
        _emv("00", "01")
        + _emv("01", "12")
        + _emv("26", account)
        + _emv("52", "0000")
        + _emv("53", "986")
        + _emv("54", f"{amount:.2f}")
        + _emv("58", "BR")
        + _emv("59", beneficiary[:25])
        + _emv("60", "BELO HORIZONTE")
        + _emv("62", _emv("05", "***"))
        + "6304"
    )
    return payload + f"{_crc16(payload.encode()):04X}"


def _emv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def _mod10(digits: str) -> int:
    total = 0
    for position, char in enumerate(reversed(digits)):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def _mod11(digits: str) -> int:
    total = sum(int(c) * (2 + i % 8) for i, c in enumerate(reversed(digits)))
    check = 11 - total % 11
    return 1 if check in (0, 1, 10, 11) else check


def _crc16(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc
