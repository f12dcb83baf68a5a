"""Registry of SSL methods: params.yaml names → classes (one file per method)."""

from sslmem.methods.base import SSLMethod
from sslmem.methods.mae import MAE
from sslmem.methods.simclr import SimCLR

METHODS: dict[str, type[SSLMethod]] = {cls.name: cls for cls in (SimCLR, MAE)}


def build_method(name: str, encoder, recipe) -> SSLMethod:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known: {sorted(METHODS)}")
    return METHODS[name].from_recipe(encoder, recipe)


__all__ = ["METHODS", "SSLMethod", "build_method"]
