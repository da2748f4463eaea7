"""Binance's error answers, as the fake exchange raises them.

Why: ccxt maps Binance's ``{"code": ..., "msg": ...}`` bodies to its exception classes by code
and message, so the fake answers with Binance's exact codes and texts.
"""

from __future__ import annotations

__all__ = ["BinanceError", "insufficient", "mandatory", "not_required"]


class BinanceError(Exception):
    """An error Binance answers with ``{"code": ..., "msg": ...}``."""

    def __init__(self, code: int, msg: str, http_status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status

    def body(self) -> dict[str, object]:
        """JSON body exactly as Binance sends it."""
        return {"code": self.code, "msg": self.msg}


def insufficient() -> BinanceError:
    return BinanceError(-2010, "Account has insufficient balance for requested action.")


def mandatory(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def not_required(name: str) -> BinanceError:
    return BinanceError(-1106, f"Parameter '{name}' sent when not required.")


