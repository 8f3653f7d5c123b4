"""A charge's payer, in Banco Inter's own field names, and the Brazilian document checks it
needs (CPF and CNPJ check digits, CEP). boleto-sync sends it to the bank; the upload service
takes it from a paid conversion's client and passes it on in ``payment.requested``."""

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


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


class Payer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # the kind first: the document's check reads it, so a wrong document is reported as
    # cpfCnpj's error
    tipoPessoa: Literal["FISICA", "JURIDICA"]
    cpfCnpj: str = Field(min_length=11, max_length=18)
    nome: str = Field(min_length=1, max_length=100)
    endereco: str = Field(min_length=1, max_length=100)
    numero: str | None = Field(default=None, max_length=10)
    complemento: str | None = Field(default=None, max_length=30)
    bairro: str | None = Field(default=None, max_length=60)
    cidade: str = Field(min_length=1, max_length=60)
    uf: str = Field(pattern=r"^[A-Z]{2}$")
    cep: str = Field(min_length=8, max_length=9)
    email: str | None = Field(default=None, max_length=50)
    ddd: str | None = Field(default=None, pattern=r"^\d{2}$")
    telefone: str | None = Field(default=None, pattern=r"^\d{8,9}$")

    @field_validator("cep")
    @classmethod
    def _cep(cls, value: str) -> str:
        if not valid_cep(value):
            raise ValueError("CEP must have 8 digits (e.g. 01310100 or 01310-100)")
        return digits(value)

    @field_validator("cpfCnpj")
    @classmethod
    def _document(cls, value: str, info: ValidationInfo) -> str:
        number, kind = digits(value), info.data.get("tipoPessoa")  # absent: its own error
        if kind == "FISICA" and not valid_cpf(number):
            raise ValueError("not a valid CPF (check digits)")
        if kind == "JURIDICA" and not valid_cnpj(number):
            raise ValueError("not a valid CNPJ (check digits)")
        return number
