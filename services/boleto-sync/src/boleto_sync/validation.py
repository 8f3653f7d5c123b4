"""Brazilian document checks: CPF and CNPJ check digits, CEP."""

import re


def digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def valid_cpf(value: str) -> bool:
    number = digits(value)
    if len(number) != 11 or number == number[0] * 11:
        return False
    return all(_check_digit(number[:i], range(i + 1, 1, -1)) == int(number[i]) for i in (9, 10))


def valid_cnpj(value: str) -> bool:
    number = digits(value)
    if len(number) != 14 or number == number[0] * 14:
        return False
    weights = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    return all(_check_digit(number[:i], weights[13 - i :]) == int(number[i]) for i in (12, 13))


def _check_digit(body: str, weights: range | list[int]) -> int:
    remainder = sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11
    return 0 if remainder < 2 else 11 - remainder


def valid_cep(value: str) -> bool:
    return len(digits(value)) == 8 and digits(value) == value.replace("-", "")
