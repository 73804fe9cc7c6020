"""One way to write an amount with its currency, used by the reasons, the report, Excel and the command line.

A currency written as a *code* (letters only: ``EUR``, ``GBP``, ``CHF``) goes after the amount with a space
(``1,174,077 EUR``); one written as a *symbol* (anything else: ``£``, ``€``, ``$``, ``US$``, ``R$``) goes before it
with no space (``£1,174,077``, ``-£12.50``). Excel's number format follows the same rule (:func:`excel_format`), so a
cell reads as the report does.
"""

from __future__ import annotations

import math
import re

MISSING = "–"  # an amount that is not known (not a word: a dash)


def currency_text(currency: str) -> str:
    """The currency as written beside amounts: trimmed, with quotes and backslashes (which would break an Excel
    number format) left out."""
    return re.sub(r'["\\]', "", str(currency or "")).strip()


def is_code(currency: str) -> bool:
    """Whether a currency is written as a code (letters only, ``EUR``), which goes after the amount."""
    return currency_text(currency).isalpha()


def money(amount: float | None, currency: str = "", decimals: int = 2) -> str:
    """An amount with its currency: a symbol before it (``£3,978.99``, ``-£12.50``), a code after it
    (``3,978.99 EUR``), none for plain numbers (``3,978.99``).

    Args:
        amount: The amount; None, NaN and infinities are written as a dash.
        currency: A code (``EUR``) or symbol (``£``); empty for plain numbers.
        decimals: Digits after the point (0: ``1,174,077``).

    Returns:
        The amount as people read it. A value that rounds to zero is never negative (``£0.00``, not ``-£0.00``).
    """
    if amount is None or not math.isfinite(float(amount)):
        return MISSING
    number = f"{abs(float(amount)):,.{max(int(decimals), 0)}f}"
    sign = "-" if float(amount) < 0 and any(d not in "0.," for d in number) else ""
    code = currency_text(currency)
    if not code:
        return sign + number
    return f"{sign}{number} {code}" if code.isalpha() else f"{sign}{code}{number}"


def excel_format(currency: str, decimals: int = 2) -> str:
    """Excel's number format of an amount, by the same rule: ``"£"#,##0.00``, ``#,##0.00 "EUR"``, ``#,##0.00``.

    Excel writes a negative amount's minus first (``-£12.50``, ``-12.50 EUR``), as :func:`money` does."""
    number = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    code = currency_text(currency)
    if not code:
        return number
    return f'{number} "{code}"' if code.isalpha() else f'"{code}"{number}'
