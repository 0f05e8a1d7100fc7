"""The Latent sliders page's controls, for the server's widgets and the browser's (component `latent_sliders`)
alike: which dimensions get a slider, the controls' ranges, and the traversal row.

A latent of up to lt.MAX_SLIDERS dimensions gets a slider for each; a wider one (a brought autoencoder's (4, 8, 8)
latent is 256) gets none and is moved along its principal and class directions only, its traversal row along a
principal direction: hundreds of sliders, each nudging the picture too little to see, would bury the directions.
"""

import torch

from genviz import latent as lt
from genviz.models.base import GenerativeModel

SIGMAS = torch.linspace(-3.0, 3.0, 7)  # the traversal row's 7 steps, in spreads (as lt.traversal's defaults)


def slider_dims(order: torch.Tensor) -> list[int]:
    """The dimensions with a slider, in the model's display order (`dimension_order`, (D,)): all, or none past
    lt.MAX_SLIDERS."""
    return order.tolist() if len(order) <= lt.MAX_SLIDERS else []


def why_no_dims(latent_dim: int) -> str:
    return (
        f"This model's latent has {latent_dim} dimensions: too many to move one by one (sliders are offered up to "
        f"{lt.MAX_SLIDERS}); move it along its principal directions and the class direction."
    )


def dim_range(centre: torch.Tensor, std: torch.Tensor, base: torch.Tensor, d: int) -> tuple[float, float]:
    """Dimension d's slider: its centre +- 4 spreads, widened to hold the start latent's value."""
    return min(float(centre[d] - 4 * std[d]), float(base[d])), max(float(centre[d] + 4 * std[d]), float(base[d]))


def dim_specs(dims: list[int], centre: torch.Tensor, std: torch.Tensor, base: torch.Tensor, gen: int) -> list[dict]:
    """The browser's dimension sliders, as the server draws them."""
    specs = []
    for d in dims:
        low, high = dim_range(centre, std, base, d)
        specs.append({"key": f"dim-{gen}-{d}", "index": d, "label": f"z[{d}]", "min": low, "max": high,
                      "step": (high - low) / 100, "value": float(base[d])})  # fmt: skip
    return specs


def direction_specs(spreads: torch.Tensor, gen: int) -> list[dict]:
    """The browser's principal-direction sliders, in spreads along each, as the server draws them."""
    return [
        {"key": f"pc-{gen}-{k}", "label": f"Principal direction {k + 1}", "spread": float(spread),
         "min": -3.0, "max": 3.0, "step": 0.1, "value": 0.0}
        for k, spread in enumerate(spreads.tolist())
    ]  # fmt: skip


def traversal_name(choice: int, by_direction: bool) -> str:
    """What the traversal row moves: dimension `choice`, or principal direction `choice` (0-based)."""
    return f"Principal direction {choice + 1}" if by_direction else f"z[{choice}]"


def traversal_row(
    centre: torch.Tensor, std: torch.Tensor, spreads: torch.Tensor, choice: int, by_direction: bool
) -> dict:
    """The traversal row as `latent_sliders` takes it: dimension `choice` set from -3 to +3 of its spread about
    its centre (as lt.traversal sets it), or, by_direction, the edited latent moved -3 to +3 spreads along
    principal direction `choice`."""
    if by_direction:
        caption = f"{traversal_name(choice, True)}: this latent moved -3 to +3 of its spread ({spreads[choice]:.2f})"
        return {"direction": choice, "values": SIGMAS.tolist(), "caption": caption}
    values = (centre[choice] + SIGMAS * std[choice]).tolist()
    return {"index": choice, "values": values,
            "caption": f"z[{choice}] from {values[0]:.2f} to {values[-1]:.2f} (-3 to +3 sigma)"}  # fmt: skip


def traversal_images(
    model: GenerativeModel, z: torch.Tensor, row: dict, directions: torch.Tensor, spreads: torch.Tensor
) -> torch.Tensor:
    """The decodes (steps, C, H, W) of `row` (`traversal_row`) from the edited latent z (D,), as the browser
    makes them; directions (K, D) and spreads (K,) as the sliders take them."""
    if "direction" in row:
        k = row["direction"]
        steps = torch.tensor(row["values"]) * spreads[k]  # (steps,), in latent units
        return lt.decode(model, z.float().cpu() + steps[:, None] * directions[k])  # (steps, D) decoded
    return lt.traversal(model, z, row["index"], len(row["values"]))[0]
