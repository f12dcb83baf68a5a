"""Rules on the training recipes: augmentation families, what each optimizer needs, warm-ups that end before
training does."""

from __future__ import annotations

from typing import Mapping

from sslmem.config.base import ConfigError
from sslmem.config.plan import probe_recipe, setup_name, setup_recipe
from sslmem.config.registry import cross_field_rule


@cross_field_rule
def check_augmentations(settings: Mapping) -> None:
    """crop_scale is [low, high]; hue jitter is at most 0.5."""
    for name, aug in settings["augmentations"].items():
        low, high = aug["crop_scale"]
        if low > high:
            raise ConfigError(f"augmentations.{name}.crop_scale: {aug['crop_scale']} must be [low, high] with low <= high")
        if aug["jitter"][3] > 0.5:
            raise ConfigError(f"augmentations.{name}.jitter: hue strength {aug['jitter'][3]} must be <= 0.5")


# What each optimizer needs besides the common keys, and an example value for the message.
_OPTIMIZER_NEEDS = {
    "adamw": ("betas", "AdamW's [beta1, beta2], e.g. [0.9, 0.999]"),
    "lars": ("trust_coefficient", "LARS's eta, e.g. 0.001"),
}


@cross_field_rule
def check_optimizers(settings: Mapping) -> None:
    """Every recipe (methods, setups' own recipes, probe) sets what its optimizer needs."""
    optimizer_users = [(f"methods.{name}", recipe) for name, recipe in settings["methods"].items()]
    optimizer_users += [
        (f"experiment.setups[{index}].recipe", setup_recipe(settings, setup_name(entry)))
        for index, entry in enumerate(settings["experiment"]["setups"]) if entry.get("recipe")
    ]
    optimizer_users.append(("probe", settings["probe"]))
    optimizer_users += [(f"probe.per_method.{method}", probe_recipe(settings, method))
                        for method in settings["probe"].get("per_method", {})]
    for location, options in optimizer_users:
        needed = _OPTIMIZER_NEEDS.get(options["optimizer"])
        if needed and needed[0] not in options:
            raise ConfigError(
                f"{location}.{needed[0]}: missing; optimizer {options['optimizer']} needs {needed[0]} ({needed[1]})"
            )


@cross_field_rule
def check_warmups(settings: Mapping) -> None:
    """No recipe (methods.<name>, probe) warms up for longer than it trains."""
    for name, recipe in settings["methods"].items():
        if recipe["warmup_epochs"] > recipe["epochs"]:
            raise ConfigError(
                f"methods.{name}.warmup_epochs: {recipe['warmup_epochs']} exceeds epochs={recipe['epochs']}"
            )
    if settings["probe"]["warmup_epochs"] > settings["probe"]["epochs"]:
        raise ConfigError(
            f"probe.warmup_epochs: {settings['probe']['warmup_epochs']} exceeds "
            f"probe.epochs={settings['probe']['epochs']}"
        )
    for method in settings["probe"].get("per_method", {}):
        recipe = probe_recipe(settings, method)
        if recipe["warmup_epochs"] > recipe["epochs"]:
            raise ConfigError(
                f"probe.per_method.{method}: warmup_epochs {recipe['warmup_epochs']} exceeds epochs={recipe['epochs']} "
                "(merged over probe)"
            )
