"""Brazilian identifiers the bank checks: CPF and CNPJ check digits, CEP, UF."""

# fmt: off
UFS = frozenset({
    "AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA",
    "PB", "PE", "PI", "PR", "RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO",
})
# fmt: on
_CNPJ_WEIGHTS = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


def valid_cpf(value: str) -> bool:
    if len(value) != 11 or not value.isdigit() or len(set(value)) == 1:
        return False
    digits = [int(c) for c in value]
    for size in (9, 10):
        total = sum(d * w for d, w in zip(digits[:size], range(size + 1, 1, -1), strict=True))
        if (total * 10) % 11 % 10 != digits[size]:
            return False
    return True


def valid_cnpj(value: str) -> bool:
    if len(value) != 14 or not value.isdigit() or len(set(value)) == 1:
        return False
    digits = [int(c) for c in value]
    for size in (12, 13):
        weights = _CNPJ_WEIGHTS[13 - size :]
        remainder = sum(d * w for d, w in zip(digits[:size], weights, strict=True)) % 11
        if (0 if remainder < 2 else 11 - remainder) != digits[size]:
            return False
    return True


def valid_cep(value: str) -> bool:
    return len(value) == 8 and value.isdigit()
