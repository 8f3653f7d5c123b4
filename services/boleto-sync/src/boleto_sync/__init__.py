"""Banco Inter charges and boleto PDFs; built in issue 3."""
