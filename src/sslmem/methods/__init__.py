"""Registry of SSL methods: params.yaml names → classes (one file per method)."""

from sslmem.methods.base import SSLMethod
from sslmem.methods.dino import DINO
from sslmem.methods.mae import MAE
from sslmem.methods.simclr import SimCLR
from sslmem.methods.simsiam import SimSiam
from sslmem.methods.supervised import Supervised
from sslmem.methods.vicreg import VICReg

METHODS: dict[str, type[SSLMethod]] = {cls.name: cls for cls in (SimCLR, MAE, DINO, VICReg, SimSiam, Supervised)}


def build_method(name: str, encoder, recipe) -> SSLMethod:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known: {sorted(METHODS)}")
    return METHODS[name].from_recipe(encoder, recipe)


__all__ = ["METHODS", "SSLMethod", "build_method"]
